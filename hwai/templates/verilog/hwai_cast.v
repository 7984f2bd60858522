// hwai_cast: ap_fixed cast of a signed fixed-point value (the Verilog twin of
// hwai.ir.types.requantize). Input: WI signed bits with FI fractional bits. Output: the
// WO raw bits of the target type (FO fractional bits, signed if SO), rounded with mode RM
// then overflow-handled with mode OM — the order ap_fixed_base.h uses.
// RM: 0 TRN, 1 TRN_ZERO, 2 RND, 3 RND_ZERO, 4 RND_MIN_INF, 5 RND_INF, 6 RND_CONV
// OM: 0 WRAP, 1 SAT, 2 SAT_ZERO, 3 SAT_SYM
module hwai_cast #(
    parameter integer WI = 8, parameter integer FI = 0,
    parameter integer WO = 8, parameter integer FO = 0,
    parameter integer SO = 1, parameter integer RM = 0, parameter integer OM = 0
) (
    input  wire signed [WI-1:0] i,
    output wire        [WO-1:0] o
);
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
            if (RM == 0) begin : g_trn
                assign up = 1'b0;
            end else if (RM == 1) begin : g_trnz
                assign up = neg & (half | rest);
            end else if (RM == 2) begin : g_rnd
                assign up = half;
            end else if (RM == 3) begin : g_rndz
                assign up = half & (rest | neg);
            end else if (RM == 4) begin : g_rndmi
                assign up = half & rest;
            end else if (RM == 5) begin : g_rndi
                assign up = half & (rest | ~neg);
            end else begin : g_conv
                assign up = half & (rest | fl[0]);
            end
            assign r = fl + $signed({{(WE-1){1'b0}}, up});
        end
    endgenerate
    wire signed [WX-1:0] rx = r;
    localparam [WX-1:0] ONE = 1;
    localparam signed [WX-1:0] QMAX = (SO != 0) ? ((ONE << (WO - 1)) - ONE) : ((ONE << WO) - ONE);
    localparam signed [WX-1:0] QMIN = (SO != 0) ? (~(ONE << (WO - 1)) + ONE) : {WX{1'b0}};
    localparam signed [WX-1:0] QLO = ((SO != 0) && (OM == 3)) ? (~QMAX + ONE) : QMIN;
    wire above = rx > QMAX;
    wire below = rx < QLO;
    generate
        if (OM == 0) begin : g_wrap
            assign o = rx[WO-1:0];
        end else if (OM == 2) begin : g_satz
            assign o = (above | (rx < QMIN)) ? {WO{1'b0}} : rx[WO-1:0];
        end else begin : g_sat
            assign o = above ? QMAX[WO-1:0] : (below ? QLO[WO-1:0] : rx[WO-1:0]);
        end
    endgenerate
endmodule
