// hwai_cast: ap_fixed cast of a signed fixed-point value (the Verilog twin of
// hwai.ir.types.requantize). Input: WI signed bits with FI fractional bits. Output: the
// WO raw bits of the target type (FO fractional bits, signed if SO), rounded with mode RM
// then overflow-handled with mode OM — the order ap_fixed_base.h uses.
// RM and OM take the codes named by the RM_* / OM_* localparams below. They are the
// values of hwai.ir.types.Rounding / Overflow (hwai.ir.numeric.rtl_codes); a test reads
// these localparams back and compares them with the Python enums.
module hwai_cast #(
    parameter integer WI = 8, parameter integer FI = 0,
    parameter integer WO = 8, parameter integer FO = 0,
    parameter integer SO = 1, parameter integer RM = 0, parameter integer OM = 0
) (
    input  wire signed [WI-1:0] i,
    output wire        [WO-1:0] o
);
    localparam integer RM_TRN = 0, RM_TRN_ZERO = 1, RM_RND = 2, RM_RND_ZERO = 3,
                       RM_RND_MIN_INF = 4, RM_RND_INF = 5, RM_RND_CONV = 6;
    localparam integer OM_WRAP = 0, OM_SAT = 1, OM_SAT_ZERO = 2, OM_SAT_SYM = 3;
    localparam integer SH = FI - FO;
    // room for the sign and for a shift that drops every input bit
    localparam integer WE = ((SH > 0) ? ((WI > SH + 1) ? WI : SH + 1) : WI) + 1;
    localparam integer WR = (SH > 0) ? WE : WE - SH;
    localparam integer WX = (WR > WO + 2) ? WR : WO + 2;
    wire signed [WE-1:0] ie = i;
    wire signed [WR-1:0] r;
    generate
        if (SH <= 0) begin : g_shl
            assign r = ie <<< (-SH);
        end else begin : g_rnd
            wire signed [WE-1:0] fl = ie >>> SH;
            wire neg = ie[WE-1];
            wire half = ie[SH-1];
            wire rest;
            wire up;
            if (SH > 1) begin : g_rest
                assign rest = |ie[SH-2:0];
            end else begin : g_norest
                assign rest = 1'b0;
            end
            if (RM == RM_TRN) begin : g_trn
                assign up = 1'b0;
            end else if (RM == RM_TRN_ZERO) begin : g_trnz
                assign up = neg & (half | rest);
            end else if (RM == RM_RND) begin : g_rnd
                assign up = half;
            end else if (RM == RM_RND_ZERO) begin : g_rndz
                assign up = half & (rest | neg);
            end else if (RM == RM_RND_MIN_INF) begin : g_rndmi
                assign up = half & rest;
            end else if (RM == RM_RND_INF) begin : g_rndi
                assign up = half & (rest | ~neg);
            end else if (RM == RM_RND_CONV) begin : g_conv
                assign up = half & (rest | fl[0]);
            end
            assign r = fl + $signed({{(WE-1){1'b0}}, up});
        end
    endgenerate
    wire signed [WX-1:0] rx = r;
    localparam [WX-1:0] ONE = 1;
    localparam signed [WX-1:0] QMAX = (SO != 0) ? ((ONE << (WO - 1)) - ONE) : ((ONE << WO) - ONE);
    localparam signed [WX-1:0] QMIN = (SO != 0) ? (~(ONE << (WO - 1)) + ONE) : {WX{1'b0}};
    localparam signed [WX-1:0] QLO = ((SO != 0) && (OM == OM_SAT_SYM)) ? (~QMAX + ONE) : QMIN;
    wire above = rx > QMAX;
    wire below = rx < QLO;
    generate
        if (OM == OM_WRAP) begin : g_wrap
            assign o = rx[WO-1:0];
        end else if (OM == OM_SAT_ZERO) begin : g_satz
            assign o = (above | (rx < QMIN)) ? {WO{1'b0}} : rx[WO-1:0];
        end else begin : g_sat  // OM_SAT, OM_SAT_SYM (QLO)
            assign o = above ? QMAX[WO-1:0] : (below ? QLO[WO-1:0] : rx[WO-1:0]);
        end
    endgenerate
endmodule
