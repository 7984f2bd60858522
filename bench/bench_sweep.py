"""Sweep throughput: trials/hour of `hwai sweep` on this machine's cores -> bench/results/sweep.json.

    python bench/bench_sweep.py                 # small: the jet sweep recipe on 20k rows, 3 epochs, 8 trials
    python bench/bench_sweep.py --full          # the 40-trial jet sweep on all rows (up to 45 min)
    python bench/bench_sweep.py --from-sweep DIR --key full   # record a sweep that already ran

Each mode writes its own key of sweep.json, so the small and full numbers live side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "sweep.json"
DATA = ROOT.parent / "shared" / "data" / "jets_hlf.npz"
RECIPE = ROOT / "recipes" / "jet_tagging_sweep.yaml"


def small_recipe(folder: Path, rows: int, epochs: int, trials: int) -> Path:
    doc = yaml.safe_load(RECIPE.read_text())
    doc["data"]["max_rows"] = rows
    for step in doc["steps"]:
        cfg = next(iter(step.values())) if isinstance(step, dict) else {}
        if "epochs" in cfg:
            cfg["epochs"] = epochs
    doc["search"].update(trials=trials)
    path = folder / "small_sweep.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_sweep(recipe: Path, out: Path, extra: list[str]) -> float:
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "hwai.cli", "sweep", str(recipe), "--data", str(DATA),
                    "--out", str(out), *extra], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - t0


def record(sweep: Path, wall: float | None, note: str | None = None) -> dict:
    doc = json.loads((sweep / "sweep.json").read_text())
    wall = wall if wall is not None else doc["wall_s"]
    best = doc.get("chosen") or {}
    return {"trials": doc["trials"], "complete": doc["complete"], "stopped_early_by_asha": doc["stopped_early"],
            "wall_s": round(wall, 1), "trials_per_hour": round(3600 * doc["trials"] / wall, 1),
            "cpus": len(os.sched_getaffinity(0)), "best_in_budget": {k: best.get(k) for k in
                                                                      ("method", "settings", "physics", "lut", "dsp", "cost")},
            "front": [{k: r.get(k) for k in ("method", "physics", "lut", "dsp", "cost", "settings")} for r in doc["front"]],
            "recommendation": [{k: t[k] for k in ("rank", "method", "best_physics", "best_cost", "trials",
                                                   "in_budget", "stopped_early")} for t in doc["recommendation"]],
            "date": time.strftime("%Y-%m-%d"), "note": note or "measured on this machine"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="the 40-trial jet sweep on all rows")
    ap.add_argument("--from-sweep", type=Path, help="record an existing sweep folder")
    ap.add_argument("--key", default=None)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--note", default=None, help="how the machine was loaded while it ran")
    args = ap.parse_args()
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    key = args.key or ("full" if args.full else "small")
    if not DATA.is_file() and not args.from_sweep:
        res = {"skipped": f"{DATA} not present"}
    elif args.from_sweep:
        res = record(args.from_sweep, None, args.note)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            recipe = RECIPE if args.full else small_recipe(Path(tmp), args.rows, args.epochs, args.trials)
            out = Path(tmp) / "sweep"
            res = record(out, run_sweep(recipe, out, []), args.note)
            res["settings"] = "full recipe" if args.full else f"{args.rows} rows, {args.epochs} epochs"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**old, key: res}, indent=1, sort_keys=True) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
