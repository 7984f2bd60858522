"""The ``hwai`` command line.

hwai compress RECIPE [--data PATH] [--out DIR] [--force] [--from STEP] [--to STEP] [--synth]
hwai emit RUN_DIR --backend hls4ml|native|verilog
hwai csim RUN_DIR [--backend ...]
hwai synth RUN_DIR [--family xcup|xc7] [--no-dsp]
hwai verify RUN_DIR [--events N] [--backends golden,fast,apfixed,rtl] [--chunk K]
hwai report RUN_DIR
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
    c.set_defaults(func=cmd_compress)

    e = sub.add_parser("emit", help="(re-)emit a run's IR as an HLS or Verilog project")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--backend", choices=("hls4ml", "native", "verilog"), default="native")
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
    return p


def cmd_compress(args: argparse.Namespace) -> int:
    from hwai.recipe.runner import default_run_dir, run_recipe
    from hwai.recipe.schema import load_recipe

    recipe = load_recipe(args.recipe)  # validated before anything is written
    run_dir = args.out or default_run_dir(recipe)
    run_recipe(recipe, run_dir, data_path=args.data, force=args.force,
               from_step=args.from_step, to_step=args.to_step, synth=args.synth)
    print((run_dir / "report.md").read_text().split("## Budget")[0].split("## Layers")[0])
    return 0


def cmd_emit(args: argparse.Namespace) -> int:
    from hwai.recipe.offline import emit_run

    for path in emit_run(args.run_dir, args.backend):
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
