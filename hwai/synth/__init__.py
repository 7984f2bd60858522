"""hwai.synth: open-source synthesis (Yosys ``synth_xilinx``) as hardware truth without Vivado."""

from hwai.synth.parse import SynthResult, parse_ltp, parse_stat_json, parse_stat_text
from hwai.synth.yosys import synth_fileset, synth_graph, yosys_command

__all__ = ["SynthResult", "parse_ltp", "parse_stat_json", "parse_stat_text",
           "synth_fileset", "synth_graph", "yosys_command"]
