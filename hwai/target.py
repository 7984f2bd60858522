"""The hardware target a design is built for (the recipe's ``target:`` section)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """FPGA part, clock and HLS flavour. Defaults: a VU9P at 200 MHz (CMS L1 style)."""

    part: str = "xcvu9p-flga2104-2L-e"
    clock_period_ns: float = 5.0
    io_type: str = "io_parallel"
    flavour: str = "vitis"          # vitis (Vitis HLS >= 2023) | vivado (Vivado HLS 2020.x)
    project_name: str = "myproject"

    @property
    def clock_mhz(self) -> float:
        return 1000.0 / self.clock_period_ns
