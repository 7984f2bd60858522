"""The ``hwai`` command line.

hwai compress RECIPE [--data PATH] [--out DIR] [--force] [--from STEP] [--to STEP] [--synth] [--ignore-budget]
hwai validate RECIPE [--data PATH] [--out DIR]
hwai emit RUN_DIR --backend hls4ml|native|verilog [--ignore-budget]
hwai csim RUN_DIR [--backend ...]
hwai synth RUN_DIR [--family xcup|xc7] [--no-dsp]
hwai verify RUN_DIR [--events N] [--backends golden,fast,apfixed,rtl] [--chunk K]
hwai report RUN_DIR
hwai runs [DIR]
hwai sweep RECIPE [--resume] [--address HOST:PORT] [--trials N] [--time-limit S] | SWEEP_DIR --best [--synth]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hwai import __version__
from hwai.errors import HwaiError


def main(argv: list[str] | None = None) -> int:
    # TensorFlow prints oneDNN/CPU-feature notices at import; keep the terminal for hwai's progress.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HwaiError as err:
        print(f"hwai: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("hwai: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwai", description="Compress trained networks into bit-exact, "
                                "budget-checked FPGA firmware (hls4ml + native HLS + Verilog).")
    p.add_argument("--version", action="version", version=f"hwai {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")

    c = sub.add_parser("compress", help="run a recipe end to end into a run folder")
    c.add_argument("recipe", type=Path)
    c.add_argument("--data", help="local dataset file (.npz/.h5/.parquet) overriding data.source")
    c.add_argument("--out", type=Path, help="run folder (default runs/<recipe name>)")
    c.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    c.add_argument("--from", dest="from_step", metavar="STEP", help="resume at STEP (name or number)")
    c.add_argument("--to", dest="to_step", metavar="STEP", help="stop after STEP")
    c.add_argument("--synth", action="store_true",
                   help="confirm the budget's LUT/FF/DSP with Yosys synthesis (slower)")
    add_ignore_budget(c)
    c.set_defaults(func=cmd_compress)

    e = sub.add_parser("emit", help="(re-)emit a run's IR as an HLS or Verilog project")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--backend", choices=("hls4ml", "native", "verilog"), default="native")
    add_ignore_budget(e)
    e.set_defaults(func=cmd_emit)

    s = sub.add_parser("csim", help="rebuild and re-check a run's emitted projects in C simulation")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--backend", choices=("hls4ml", "native"), action="append")
    s.set_defaults(func=cmd_csim)

    y = sub.add_parser("synth", help="synthesize a run's Verilog with Yosys (no vendor tool needed)")
    y.add_argument("run_dir", type=Path)
    y.add_argument("--family", choices=("xcup", "xc7"), default="xcup")
    y.add_argument("--no-dsp", action="store_true", help="map multipliers to LUTs (-nodsp)")
    y.add_argument("--timeout", type=int, default=900, help="seconds before synthesis is cut off")
    y.set_defaults(func=cmd_synth)

    v = sub.add_parser("verify", help="stream N events through golden, fast/ap_fixed C-sim and RTL, bit-exact")
    v.add_argument("run_dir", type=Path)
    v.add_argument("--events", type=int, default=1_000_000, help="events to check (default 1000000)")
    v.add_argument("--backends", type=_backends, default=None,
                   help="comma-separated subset of golden,fast,apfixed,rtl (default: all; rtl if verilator)")
    v.add_argument("--chunk", type=int, default=100_000, help="events per chunk (memory bound)")
    v.set_defaults(func=cmd_verify)

    r = sub.add_parser("report", help="print a run's headline report")
    r.add_argument("run_dir", type=Path)
    r.set_defaults(func=cmd_report)
    add_run_commands(sub)
    add_sweep_command(sub)
    return p


def cmd_compress(args: argparse.Namespace) -> int:
    from hwai.recipe.runner import default_run_dir, run_recipe
    from hwai.recipe.schema import load_recipe

    recipe = load_recipe(args.recipe)  # validated before anything is written
    run_dir = args.out or default_run_dir(recipe)
    run_recipe(recipe, run_dir, data_path=args.data, force=args.force,
               from_step=args.from_step, to_step=args.to_step, synth=args.synth,
               ignore_budget=args.ignore_budget)
    print((run_dir / "report.md").read_text().split("## Budget")[0].split("## Layers")[0])
    return 0


def cmd_emit(args: argparse.Namespace) -> int:
    from hwai.recipe.offline import emit_run

    for path in emit_run(args.run_dir, args.backend, ignore_budget=args.ignore_budget):
        print(path)
    return 0


def cmd_csim(args: argparse.Namespace) -> int:
    from hwai.recipe.offline import csim_run

    results = csim_run(args.run_dir, args.backend)
    for backend, r in results.items():
        print(f"{backend}: {r['summary']}")
    return 0 if all(r["mismatches"] == 0 for r in results.values()) else 5


def cmd_synth(args: argparse.Namespace) -> int:
    from hwai.recipe.offline import synth_run

    res = synth_run(args.run_dir, {"family": args.family, "dsp": not args.no_dsp, "timeout_s": args.timeout})
    print({k: v for k, v in res.get("total", {}).items()})
    return 0


def _backends(text: str) -> list[str]:
    from hwai.sim.verify import parse_backends

    try:
        return parse_backends(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def cmd_verify(args: argparse.Namespace) -> int:
    from hwai.sim.verify import verify_run

    verify_run(args.run_dir, args.events, args.backends, args.chunk)  # MismatchError -> exit 5
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    md = args.run_dir / "report.md"
    if not md.is_file():
        status = args.run_dir / "status.json"
        extra = f" (status: {status.read_text().strip()})" if status.is_file() else ""
        raise HwaiError(f"{args.run_dir}: no report.md; the run did not complete{extra}")
    print(md.read_text())
    return 0


# --- run-folder commands: --ignore-budget, hwai validate, hwai runs ---------------------

def add_ignore_budget(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ignore-budget", action="store_true",
                   help="hand off firmware although the budget failed (recorded in status.json and the report)")


def add_run_commands(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate", help="run every check that needs no training (recipe, data, model, "
                       "tools, output folder); one line per check")
    v.add_argument("recipe", type=Path)
    v.add_argument("--data", help="local dataset file overriding data.source")
    v.add_argument("--out", type=Path, help="run folder to check (default runs/<recipe name>)")
    v.set_defaults(func=cmd_validate)
    r = sub.add_parser("runs", help="list hwai run folders with status and headline numbers")
    r.add_argument("dir", type=Path, nargs="?", default=Path("runs"), help="folder holding runs (default runs/)")
    r.set_defaults(func=cmd_runs)


def cmd_validate(args: argparse.Namespace) -> int:
    from hwai.recipe.preflight import Check, validate
    from hwai.recipe.runner import RunContext, default_run_dir
    from hwai.recipe.schema import load_recipe
    from hwai.target import Target

    try:
        recipe = load_recipe(args.recipe)
        run_dir = args.out or default_run_dir(recipe)
    except HwaiError as err:
        print(Check("recipe", "", err).line())
        return err.exit_code
    ctx = RunContext(recipe, run_dir, Target(**recipe.target), log=lambda s: None)
    checks = validate(ctx, args.data, force=True)
    for c in checks:
        print(c.line())
    first = next((c.error for c in checks if c.error is not None), None)
    return 0 if first is None else first.exit_code


def cmd_runs(args: argparse.Namespace) -> int:
    from hwai.recipe.rundir import list_runs

    rows = list_runs(args.dir)
    if not rows:
        print(f"no hwai runs under {args.dir}")
        return 0
    header = ("run", "status", "accuracy", "LUT", "mismatches")
    table = [header] + [tuple(r[k] for k in ("run", "status", "accuracy", "lut", "mismatches")) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


# --- hwai sweep (Ray Tune: ASHA + Optuna TPE) ---------------------------------------------

def add_sweep_command(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("sweep", help="search methods and settings on Ray Tune (ASHA + TPE): Pareto front, "
                       "recommendation, report.html; --best re-runs the chosen point to firmware")
    w.add_argument("target", type=Path, help="recipe with a search: block (or, with --best, a sweep folder)")
    w.add_argument("--resume", action="store_true", help="continue a killed sweep; finished trials are kept")
    w.add_argument("--address", help="HOST:PORT of a Ray head ('ray start --head'); default: this machine")
    w.add_argument("--trials", type=int, help="override search.trials")
    w.add_argument("--time-limit", type=float, metavar="S", help="override search.time_limit_s (seconds)")
    w.add_argument("--data", help="local dataset file overriding data.source")
    w.add_argument("--out", type=Path, help="sweep folder (default runs/<recipe name>-sweep)")
    w.add_argument("--best", action="store_true", help="re-run the sweep's chosen point through emit, C-sim, RTL")
    w.add_argument("--synth", action="store_true", help="with --best: confirm the budget with Yosys")
    w.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from hwai.sweep.best import run_best
    from hwai.sweep.driver import run_sweep

    if args.best:
        run_dir = run_best(args.target, synth=args.synth, data=args.data)
        print((run_dir / "report.md").read_text().split("## Budget")[0])
        return 0
    run_sweep(args.target, args.out, resume=args.resume, address=args.address, trials=args.trials,
              time_limit=args.time_limit, data=args.data)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
