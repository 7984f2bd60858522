"""`make bench`: every benchmark, JSON under bench/results/.

* codegen.json  - hls4ml vs native build time, C-sim throughput (ap_fixed and integer
                  flavours vs hls4ml predict), golden model per core (bench_codegen.py);
                  Verilator vectors/min and the estimator's out-of-sample error (bench_rtl.py)
* compress.json - wall time and peak memory of `hwai compress` on the jet recipe
* sweep.json    - `hwai sweep` throughput, trials/hour on this machine's cores (bench_sweep.py)
* compression.json (+ .png) - the accuracy-vs-LUT front on the jet task: float, uniform QKeras,
                  prune + 6-bit, HGQ at fixed penalties, hwai heterogeneous at LUT budgets, each
                  through hwai's Verilog and Yosys, C-sim and Verilator (bench_compression.py, ~1 h)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = ROOT.parent / "shared" / "data" / "jets_hlf.npz"


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - t0


def bench_compress() -> dict:
    """The main job, timed, with the children's peak resident memory."""
    if not DATA.is_file():
        return {"skipped": f"{DATA} not present"}
    out = ROOT / "runs" / "bench_jet_tagging"
    wall = run([sys.executable, "-m", "hwai.cli", "compress", "recipes/jet_tagging.yaml",
                "--data", str(DATA), "--out", str(out), "--force"])
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads((out / "report.json").read_text())
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(peak_kib / 1024, 1), "cpus": os.cpu_count(),
            "firmware_accuracy": report["firmware_accuracy"], "csim": report["csim"],
            "steps_s": dict(_step_seconds(out))}


def _step_seconds(run_dir: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()).get("seconds")
            for p in sorted((run_dir / "steps").glob("*/report.json"))}


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "bench/bench_codegen.py"])
    run([sys.executable, "bench/bench_rtl.py"])  # adds its keys to codegen.json
    run([sys.executable, "bench/bench_sweep.py"])  # sweep.json: trials/hour of a small jet sweep
    run([sys.executable, "bench/bench_compression.py", "--jobs", "2"])  # compression.json + .png
    res = bench_compress()
    (RESULTS / "compress.json").write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
