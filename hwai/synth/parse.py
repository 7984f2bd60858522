"""Parse Yosys ``stat`` (text or ``-json``) and ``ltp`` output into resource counts."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SynthResult:
    """Xilinx primitive counts after ``synth_xilinx`` plus the longest logic path.

    ``depth`` is Yosys ``ltp -noff``: cells on the longest combinational path (LUTs and
    CARRY cells count one each) — a technology-level stand-in for logic levels.
    """

    lut: int = 0
    ff: int = 0
    carry: int = 0
    dsp: int = 0
    muxf: int = 0
    bram: int = 0
    depth: int = 0
    cells: int = 0
    seconds: float = 0.0

    def __add__(self, o: SynthResult) -> SynthResult:
        """Hierarchical sum: resources add, depth is the worst part (each part is registered)."""
        return SynthResult(self.lut + o.lut, self.ff + o.ff, self.carry + o.carry,
                           self.dsp + o.dsp, self.muxf + o.muxf, self.bram + o.bram,
                           max(self.depth, o.depth), self.cells + o.cells,
                           round(self.seconds + o.seconds, 2))

    def to_dict(self) -> dict:
        return asdict(self)


def classify(counts: dict[str, int], depth: int = 0) -> SynthResult:
    """Group primitive cell types into LUT / FF / CARRY / DSP / MUXF / BRAM."""
    def total(pred) -> int:
        return sum(n for name, n in counts.items() if pred(name.lstrip("\\$")))
    return SynthResult(
        lut=total(lambda c: c.startswith("LUT") or c == "INV"),  # INV maps to a LUT1
        ff=total(lambda c: re.fullmatch(r"FD[A-Z]*", c) is not None),
        carry=total(lambda c: c.startswith("CARRY")),
        dsp=total(lambda c: c.startswith("DSP")),
        muxf=total(lambda c: c.startswith("MUXF")),
        bram=total(lambda c: c.startswith("RAMB")),
        depth=depth, cells=sum(n for name, n in counts.items() if not name.startswith("$")))


def parse_stat_json(text: str, top: str | None = None) -> dict[str, int]:
    """Cell counts of ``top`` (or the single/first module) from ``stat -json``."""
    doc = json.loads(text[text.index("{"):])
    mods = doc["modules"]
    key = next((k for k in mods if k.lstrip("\\") == top), None) if top else None
    mod = mods[key] if key else next(iter(mods.values()))
    return {str(k): int(v) for k, v in mod.get("num_cells_by_type", {}).items()}


_TEXT_OLD = re.compile(r"^\s{5}(\S+)\s+(\d+)\s*$")           # Yosys <= 0.4x:  "     LUT2   581"
_TEXT_NEW = re.compile(r"^\s+(\d+)\s+(?:[\d.]+\s+)?([A-Z$\\][\w$\\]*)\s*$")  # 0.5x+: "  922   LUT2"


def parse_stat_text(text: str) -> dict[str, int]:
    """Cell counts from the plain ``stat`` report of either Yosys layout (last module)."""
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("==="):
            counts = {}
        m = _TEXT_OLD.match(line)
        if m and not m.group(1)[0].islower():
            counts[m.group(1)] = int(m.group(2))
            continue
        m = _TEXT_NEW.match(line)
        if m and m.group(2)[0].isupper():
            counts[m.group(2)] = int(m.group(1))
    return counts


def parse_ltp(text: str) -> int:
    """Longest topological path length from ``ltp`` output (0 if absent)."""
    found = re.findall(r"Longest topological path in \S+ \(length=(\d+)\)", text)
    return max((int(v) for v in found), default=0)
