"""The ``hwai`` command line: one ``cmd_*`` function per subcommand, built in :func:`build_parser`.

Every user error is one line ``hwai: <message>`` on stderr with the documented exit code
(:data:`EXIT_CODES`); anything unexpected is one ``internal error`` line (``--debug`` shows
the traceback); Ctrl-C exits 130 with the command that resumes the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hwai import __version__, quiet_frameworks
from hwai.errors import HwaiError, RecipeError

EXIT_CODES = """\
exit codes:
  0    ok
  1    other error (an internal error says so; rerun with --debug for the traceback)
  2    bad recipe, data file, model or unsupported layer
  3    missing tool (g++, verilator, yosys, julia)
  4    budget exceeded (budget.on_fail: error)
  5    simulation mismatch against the golden model
  130  interrupted (Ctrl-C); the message says how to resume"""

EXAMPLES = """\
examples:
  hwai recipes                                   # the recipes shipped with hwai
  hwai steps                                     # every step and its keys
  hwai init --model model.h5 --data jets.npz -o my.yaml
  hwai compress recipes/jet_tagging.yaml --data ../shared/data/jets_hlf.npz --set data.max_rows=20000
  hwai compress my.yaml --out runs/my --from quantize
  hwai --json report runs/my > report.json"""

INTERRUPTED = 130
RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in --help where there is one worth showing; epilogs keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS) or not action.help:
            return action.help or ""
        return super()._get_help_string(action)


# --- entry point ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    configure(args)
    previous = _install_sigint()
    try:
        return run_command(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def configure(args: argparse.Namespace) -> None:
    """Quiet frameworks unless --debug; progress off under --quiet/--json."""
    from hwai.progress import set_quiet

    if not args.debug:
        quiet_frameworks()
    set_quiet(bool(args.quiet or args.json))


def run_command(args: argparse.Namespace) -> int:
    """Run ``args.func``; map every outcome to one line and a documented exit code."""
    args.stdout = sys.stdout
    _INTERRUPT["seen"] = False
    try:
        with _human_output(args):
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return _interrupted(args)
    except HwaiError as err:
        if _INTERRUPT["seen"]:   # an interrupt a library turned into another error
            return _interrupted(args)
        return _fail(args, str(err), err.exit_code, err)
    except Exception as err:  # noqa: BLE001 - the one place that turns a bug into one line
        if _INTERRUPT["seen"]:
            return _interrupted(args)
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        msg = f"internal error: {type(err).__name__}: {first} (rerun with --debug for the traceback)"
        return _fail(args, msg, 1, err)


def _fail(args: argparse.Namespace, msg: str, code: int, err: BaseException) -> int:
    if args.debug:
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    msg = one_line(msg) if code != 1 or "\n" not in msg else msg  # keep a tool's log tail
    print(f"hwai: {msg}", file=sys.stderr)
    if args.json:
        _write_json(args.stdout, {"ok": False, "exit_code": code, "error": msg})
    return code


def one_line(msg: str) -> str:
    """Control characters from user input (a stray CR in a YAML string) shown escaped, so a
    message stays one visible line."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], msg)


@contextlib.contextmanager
def _human_output(args: argparse.Namespace) -> Iterator[None]:
    """Under --json stdout carries only the JSON document (prints go to stderr); --quiet drops them."""
    if not (args.json or args.quiet):
        yield
        return
    target = sys.stderr if args.json else open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        with contextlib.redirect_stdout(target):
            yield
    finally:
        if target is not sys.stderr:
            target.close()


def result(args: argparse.Namespace, doc: Any, human: str) -> None:
    """A command's result: ``doc`` as one JSON document under --json, else ``human`` text."""
    if args.json:
        _write_json(args.stdout, doc)
    elif human:
        print(human, file=args.stdout)


def _write_json(stream: Any, doc: Any) -> None:
    stream.write(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
    stream.flush()


# --- Ctrl-C ---------------------------------------------------------------------------

_INTERRUPT = {"seen": False}


def _install_sigint() -> Any:
    """Remember that Ctrl-C was pressed (a library may wrap the KeyboardInterrupt, e.g. during
    TensorFlow's import); a second Ctrl-C while cleaning up exits at once."""
    if sys.platform == "win32":
        return None
    try:
        return signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread (an embedding application)
        return None


def _on_sigint(signum: int, frame: Any) -> None:
    if _INTERRUPT["seen"]:
        os.write(2, b"\nhwai: interrupted again; exiting now\n")
        os._exit(INTERRUPTED)
    _INTERRUPT["seen"] = True
    raise KeyboardInterrupt


def _interrupted(args: argparse.Namespace) -> int:
    hint = resume_hint(args)
    msg = "interrupted" + (f"; {hint}" if hint else "")
    print(f"\nhwai: {msg}", file=sys.stderr)
    if args.json:
        _write_json(args.stdout, {"ok": False, "exit_code": INTERRUPTED, "error": msg})
    return INTERRUPTED


def resume_hint(args: argparse.Namespace) -> str:
    """The command that continues an interrupted ``compress`` (first step without a report)
    or ``sweep``."""
    if getattr(args, "sweep_dir", None) is not None:
        return sweep_hint(args)
    run_dir, steps = getattr(args, "run_dir", None), getattr(args, "step_folders", None)
    if run_dir is None or steps is None:
        return ""
    base = _compress_argv(args, run_dir)
    if not (run_dir / "status.json").is_file():
        return f"nothing was written; rerun: {base}"
    names = [name for name, _ in steps]
    for k, (name, folder) in enumerate(steps):
        if not (run_dir / "steps" / folder / "report.json").is_file():
            if k == 0:
                return f"no step finished; restart with: {base} --force"
            return f"resume with: {base} --from {name if names.count(name) == 1 else k + 1}"
    return f"every step finished; see {run_dir / 'status.json'}"


def _compress_argv(args: argparse.Namespace, run_dir: Path) -> str:
    parts = ["hwai compress", str(args.recipe)]
    parts += [f"--data {args.data}"] if args.data else []
    parts += [f"--out {run_dir}"] + [f"--set {s}" for s in args.set or []]
    return " ".join(parts)


# --- parser ---------------------------------------------------------------------------


def _global_flags(p: argparse.ArgumentParser, here: bool) -> None:
    """Flags accepted before or after the subcommand (``hwai --json report R`` or ``hwai report R --json``).

    On subcommands the default is SUPPRESS so they do not reset a flag given before them."""
    default = (lambda v: v) if here else (lambda v: argparse.SUPPRESS)
    p.add_argument("--debug", action="store_true", default=default(False),
                   help="show Python tracebacks and framework log messages")
    p.add_argument("--quiet", "-q", action="store_true", default=default(False),
                   help="print nothing but errors (no step log, no progress)")
    p.add_argument("--json", action="store_true", default=default(False),
                   help="print one JSON document with the result on stdout; human text goes to stderr")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hwai", formatter_class=HelpFormatter,
                                description="Compress trained networks into bit-exact, budget-checked FPGA "
                                "firmware (hls4ml + native HLS + Verilog).",
                                epilog=f"{EXAMPLES}\n\n{EXIT_CODES}")
    p.add_argument("--version", action="version", version=f"hwai {__version__}")
    _global_flags(p, here=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_flags(common, here=False)
    sub = p.add_subparsers(metavar="COMMAND", dest="command")

    def add(name: str, help: str, examples: str = "") -> argparse.ArgumentParser:
        epilog = (f"examples:\n{examples}\n\n" if examples else "") + EXIT_CODES
        return sub.add_parser(name, help=help, description=help, parents=[common],
                              formatter_class=HelpFormatter, epilog=epilog)

    _add_compress(add)
    _add_offline(add)
    _add_discovery(add)
    _add_sweep(add)
    return p


def _add_compress(add: Any) -> None:
    c = add("compress", "run a recipe end to end into a run folder",
            "  hwai compress recipes/jet_tagging.yaml --data ../shared/data/jets_hlf.npz\n"
            "  hwai compress r.yaml --set data.max_rows=20000 --set steps.train.epochs=5 --to lower\n"
            "  hwai compress r.yaml --out runs/r --from quantize     # resume a run")
    c.add_argument("recipe", type=Path, help="recipe YAML file (hwai recipes lists examples)")
    c.add_argument("--data", help="local dataset file (.npz/.h5/.parquet) overriding data.source")
    c.add_argument("--out", type=Path, help="run folder (default runs/<recipe name>)")
    c.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    c.add_argument("--from", dest="from_step", metavar="STEP", help="resume at STEP (name or number)")
    c.add_argument("--to", dest="to_step", metavar="STEP", help="stop after STEP")
    c.add_argument("--synth", action="store_true",
                   help="confirm the budget's LUT/FF/DSP with Yosys synthesis (slower)")
    add_ignore_budget(c)
    add_set_flag(c)
    c.set_defaults(func=cmd_compress)

    v = add("validate", "run every check that needs no training (recipe, data, model, tools, output "
            "folder); one line per check", "  hwai validate r.yaml --data ../shared/data/jets_hlf.npz")
    v.add_argument("recipe", type=Path)
    v.add_argument("--data", help="local dataset file overriding data.source")
    v.add_argument("--out", type=Path, help="run folder to check (default runs/<recipe name>)")
    add_set_flag(v)
    v.set_defaults(func=cmd_validate)


def add_set_flag(p: argparse.ArgumentParser) -> None:
    """``--set PATH=VALUE`` (repeatable); shared by every command that reads a recipe."""
    p.add_argument("--set", action="append", metavar="PATH=VALUE",
                   help="override a recipe field, e.g. data.max_rows=20000 or steps.train.epochs=5 "
                   "(VALUE is YAML; repeatable)")


def add_ignore_budget(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ignore-budget", action="store_true",
                   help="hand off firmware although the budget failed (recorded in status.json and the report)")


def _add_offline(add: Any) -> None:
    e = add("emit", "(re-)emit a run's IR as an HLS or Verilog project",
            "  hwai emit runs/jet_tagging --backend verilog")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--backend", choices=("hls4ml", "native", "verilog"), default="native",
                   help="which project to write")
    add_ignore_budget(e)
    e.set_defaults(func=cmd_emit)

    s = add("csim", "rebuild and re-check a run's emitted projects in C simulation",
            "  hwai csim runs/jet_tagging --backend native")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--backend", choices=("hls4ml", "native"), action="append",
                   help="backend to simulate (repeatable; default: every emitted HLS project)")
    s.set_defaults(func=cmd_csim)

    y = add("synth", "synthesize a run's Verilog with Yosys (no vendor tool needed)",
            "  hwai synth runs/jet_tagging --family xc7 --no-dsp")
    y.add_argument("run_dir", type=Path)
    y.add_argument("--family", choices=("xcup", "xc7"), default="xcup", help="Xilinx device family")
    y.add_argument("--no-dsp", action="store_true", help="map multipliers to LUTs (-nodsp)")
    y.add_argument("--timeout", type=int, default=900, help="seconds before synthesis is cut off")
    y.set_defaults(func=cmd_synth)

    v = add("verify", "stream N events through golden, fast/ap_fixed C-sim and RTL, bit-exact",
            "  hwai verify runs/jet_tagging --events 1000000 --backends golden,fast,apfixed")
    v.add_argument("run_dir", type=Path)
    v.add_argument("--events", type=int, default=1_000_000, help="events to check")
    v.add_argument("--backends", type=_backends, default=None,
                   help="comma-separated subset of golden,fast,apfixed,rtl (default: all that apply)")
    v.add_argument("--chunk", type=int, default=100_000, help="events per chunk (memory bound)")
    v.set_defaults(func=cmd_verify)

    r = add("report", "print a run's headline report", "  hwai --json report runs/jet_tagging")
    r.add_argument("run_dir", type=Path)
    r.set_defaults(func=cmd_report)

    u = add("runs", "list hwai run folders with status and headline numbers", "  hwai runs runs/")
    u.add_argument("dir", type=Path, nargs="?", default=Path("runs"), help="folder holding runs")
    u.set_defaults(func=cmd_runs)


def _add_discovery(add: Any) -> None:
    add("steps", "list every recipe step with what it does and its keys (defaults)",
        "  hwai steps").set_defaults(func=cmd_steps)
    add("recipes", "list the recipes shipped with hwai", "  hwai recipes").set_defaults(func=cmd_recipes)
    i = add("init", "write a commented starter recipe from a trained model file and a data file",
            "  hwai init --model model.h5 --data jets.npz -o my_recipe.yaml")
    i.add_argument("--model", type=Path, required=True, help="trained model (.h5/.keras/.json Keras or QKeras, .pt torch)")
    i.add_argument("--data", type=Path, required=True, help="data file (.npz/.h5/.parquet) the model takes")
    i.add_argument("-o", "--output", type=Path, default=Path("recipe.yaml"), help="recipe file to write")
    i.add_argument("--name", help="recipe name (default: the model file's name)")
    i.add_argument("--force", action="store_true", help="overwrite the output file if it exists")
    i.set_defaults(func=cmd_init)


# --- recipes with --set -----------------------------------------------------------------


def set_overrides(recipe: Path, sets: list[str] | None) -> dict | None:
    """``--set`` flags as the ``overrides`` mapping of :func:`hwai.api.load`/``compress``."""
    from hwai.recipe.schema import load_recipe

    return overrides_from_sets(sets, dict(load_recipe(recipe).raw)) if sets else None


def load_with_sets(recipe: Path, sets: list[str] | None) -> Any:
    """The validated recipe with ``--set`` merged by the API's own mechanism (:func:`hwai.api.load`)."""
    from hwai.api import load

    return load(recipe, set_overrides(recipe, sets))


def overrides_from_sets(sets: list[str], raw: dict) -> dict:
    """``["data.max_rows=20000", "steps.train.epochs=5"]`` -> an ``overrides`` mapping.

    ``steps.NAME.KEY`` sets KEY in every step called NAME (steps are a list in the recipe)."""
    out: dict = {}
    steps = None
    for item in sets:
        path, value = _parse_set(item)
        check_set_path(path)
        if path[0] == "steps":
            steps = _set_in_steps(steps if steps is not None else list(raw.get("steps") or []), path, value, item)
            out["steps"] = steps
        else:
            _set_in(out, path, value)
    return out


def _parse_set(item: str) -> tuple[list[str], Any]:
    import yaml

    key, sep, text = item.partition("=")
    if not sep or not key.strip() or "" in key.split("."):
        raise RecipeError(f"--set {item}: write --set dotted.path=value, e.g. --set data.max_rows=20000")
    try:
        return key.strip().split("."), yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise RecipeError(f"--set {item}: the value is not valid YAML ({getattr(err, 'problem', err)})") from None


def check_set_path(path: list[str]) -> None:
    """Walk the schema so a typo gets the schema's own "did you mean" before anything runs."""
    from hwai.recipe.schema import RECIPE, suggest

    options: Any = RECIPE
    for depth, key in enumerate(path):
        if options is None:  # a free-keyed mapping (e.g. quantize.layers) takes any key below
            return
        if options == {}:
            raise RecipeError(f"--set {'.'.join(path)}: {path[depth - 1]!r} is a value, not a mapping")
        if key not in options:
            raise RecipeError(f"--set {'.'.join(path)}: unknown key {key!r}{suggest(key, options)}")
        options = _below(options, key, depth, path)


def _below(options: Any, key: str, depth: int, path: list[str]) -> Any:
    """The keys one level under ``key``: a schema mapping, None (any key) or {} (a plain value)."""
    from hwai.recipe.schema import STEPS

    if depth == 0 and key == "steps":
        return STEPS
    if options is STEPS:
        return STEPS[key]
    fld = options[key]
    if fld.values is not None:
        return None
    return fld.fields if fld.fields is not None else {}


def _set_in(doc: dict, path: list[str], value: Any) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value


def _set_in_steps(steps: list, path: list[str], value: Any, item: str) -> list:
    if len(path) < 3:
        raise RecipeError(f"--set {item}: name a step's key, e.g. --set steps.train.epochs=5")
    name, hits = path[1], 0
    for k, entry in enumerate(steps):
        entry_name = entry if isinstance(entry, str) else next(iter(entry), None) if isinstance(entry, dict) else None
        if entry_name == name:
            cfg = {} if isinstance(entry, str) else dict(entry[name] or {})
            _set_in(cfg, path[2:], value)
            steps[k], hits = {name: cfg}, hits + 1
    if not hits:
        raise RecipeError(f"--set {item}: the recipe has no {name!r} step")
    return steps


# --- commands -------------------------------------------------------------------------


def cmd_compress(args: argparse.Namespace) -> int:
    from hwai.api import compress, load
    from hwai.recipe.runner import default_run_dir

    overrides = set_overrides(args.recipe, args.set)
    recipe = load(args.recipe, overrides)  # validated before anything is written
    args.run_dir = Path(args.out or default_run_dir(recipe))
    args.step_folders = [(s.name, s.folder) for s in recipe.steps]
    # The step log goes to stdout, which _human_output sends to stderr (--json) or nowhere (--quiet).
    run = compress(args.recipe, data=args.data, out=args.run_dir, force=args.force, overrides=overrides,
                   from_step=args.from_step, to_step=args.to_step, synth=args.synth,
                   ignore_budget=args.ignore_budget)
    status = json.loads((run.run_dir / "status.json").read_text())
    headline = run.markdown().split("## Budget")[0].split("## Layers")[0]
    result(args, {"ok": True, "run_dir": str(run.run_dir), "status": status, "report": run.report},
           str(run.run_dir) if args.quiet else headline)
    return 0


def cmd_emit(args: argparse.Namespace) -> int:
    from hwai.recipe.offline import emit_run

    paths = [str(p) for p in emit_run(args.run_dir, args.backend, ignore_budget=args.ignore_budget)]
    result(args, {"ok": True, "backend": args.backend, "files": paths}, "\n".join(paths))
    return 0


def cmd_csim(args: argparse.Namespace) -> int:
    from hwai.progress import progress
    from hwai.recipe.offline import csim_run

    with progress("C-sim " + ", ".join(args.backend or ["emitted projects"])):
        results = csim_run(args.run_dir, args.backend)
    ok = all(r["mismatches"] == 0 for r in results.values())
    result(args, {"ok": ok, "backends": results},
           "\n".join(f"{backend}: {r['summary']}" for backend, r in results.items()))
    return 0 if ok else 5


def cmd_synth(args: argparse.Namespace) -> int:
    from hwai.recipe.offline import synth_run

    res = synth_run(args.run_dir, {"family": args.family, "dsp": not args.no_dsp, "timeout_s": args.timeout})
    total = dict(res.get("total", {}))
    result(args, {"ok": True, **res}, "  ".join(f"{k}: {v}" for k, v in total.items()))
    return 0


def _backends(text: str) -> list[str]:
    from hwai.sim.verify import parse_backends

    try:
        return parse_backends(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def cmd_verify(args: argparse.Namespace) -> int:
    from hwai.recipe.offline import verify_run

    res = verify_run(args.run_dir, args.events, args.backends, args.chunk,
                     progress=not (args.quiet or args.json))  # MismatchError -> exit 5
    result(args, {"ok": True, **res}, "")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    md, rep = args.run_dir / "report.md", args.run_dir / "report.json"
    if not md.is_file():
        status = args.run_dir / "status.json"
        extra = f" (status: {status.read_text().strip()})" if status.is_file() else ""
        raise HwaiError(f"{args.run_dir}: no report.md; the run did not complete{extra}")
    doc = json.loads(rep.read_text()) if rep.is_file() else {}
    result(args, {"ok": True, "run_dir": str(args.run_dir), "report": doc}, md.read_text())
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hwai.recipe.preflight import Check, validate
    from hwai.recipe.runner import RunContext, default_run_dir
    from hwai.target import Target

    try:
        recipe = load_with_sets(args.recipe, args.set)
        run_dir = args.out or default_run_dir(recipe)
    except HwaiError as err:
        checks = [Check("recipe", "", err)]
    else:
        ctx = RunContext(recipe, run_dir, Target(**recipe.target), log=lambda s: None)
        checks = validate(ctx, args.data, force=True)
    first = next((c.error for c in checks if c.error is not None), None)
    doc = {"ok": first is None, "exit_code": 0 if first is None else first.exit_code,
           "checks": [{"name": c.name, "ok": c.error is None, "detail": str(c.error or c.detail)} for c in checks]}
    result(args, doc, "\n".join(c.line() for c in checks))
    return doc["exit_code"]


def cmd_runs(args: argparse.Namespace) -> int:
    from hwai.recipe.rundir import list_runs

    rows = list_runs(args.dir)
    header = ("run", "status", "accuracy", "lut", "mismatches")
    table = [tuple(h.upper() if h == "lut" else h for h in header)] + [tuple(r[k] for k in header) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    human = "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table)
    result(args, rows, human if rows else f"no hwai runs under {args.dir}")
    return 0


def cmd_steps(args: argparse.Namespace) -> int:
    from hwai.recipe.catalog import steps

    doc = {name: {"description": info.description,
                  "keys": {k: _key_doc(f) for k, f in info.fields.items()}} for name, info in steps().items()}
    lines = []
    for name, d in doc.items():
        lines.append(f"{name:<9} {d['description']}")
        keys = ", ".join(f"{k}={v['default']}" if v["default"] is not None else k for k, v in d["keys"].items())
        lines.append(f"{'':<9}   keys: {keys or '(none)'}")
    result(args, doc, "\n".join(lines))
    return 0


def _key_doc(fld: Any) -> dict:
    default = fld.default if not isinstance(fld.default, (dict, list)) or fld.default else None
    return {"default": default, "choices": list(fld.choices) if fld.choices else None, "help": fld.help,
            "minimum": fld.minimum, "maximum": fld.maximum}


def cmd_recipes(args: argparse.Namespace) -> int:
    import yaml

    if not RECIPES_DIR.is_dir():
        raise HwaiError(f"{RECIPES_DIR}: no recipes folder (the examples ship with the source tree)")
    doc = {}
    for path in sorted(RECIPES_DIR.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            raw = {}
        doc[str(path)] = str(raw.get("description", "")) if isinstance(raw, dict) else ""
    width = max((len(Path(p).name) for p in doc), default=0)
    human = "\n".join(f"{Path(p).name:<{width}}  {d}" for p, d in doc.items())
    result(args, doc, f"{human}\n(in {RECIPES_DIR})")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    import yaml

    from hwai.recipe.schema import recipe_from_dict
    from hwai.recipe.starter import inspect_data, inspect_model, safe_name, starter_recipe

    out = args.output
    if out.exists() and not args.force:
        raise HwaiError(f"{out}: exists; pass --force to overwrite it or -o another file")
    model = inspect_model(args.model)
    text = starter_recipe(model, inspect_data(args.data), args.name or safe_name(args.model.stem))
    recipe_from_dict(yaml.safe_load(text), out)  # never write a recipe hwai would reject
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    result(args, {"ok": True, "recipe": str(out)},
           f"wrote {out}; check it, then: hwai compress {out}")
    return 0


# --- hwai sweep (Ray Tune: ASHA + Optuna TPE) ---------------------------------------------


def _add_sweep(add: Any) -> None:
    w = add("sweep", "search methods and settings on Ray Tune (ASHA + TPE): Pareto front, recommendation, "
            "report.html; --best re-runs the chosen point to firmware",
            "  hwai sweep recipes/jet_tagging_sweep.yaml --data ../shared/data/jets_hlf.npz\n"
            "  hwai sweep recipes/jet_tagging_sweep.yaml --set search.trials=10 --set data.max_rows=20000\n"
            "  hwai sweep recipes/jet_tagging_sweep.yaml --resume            # after a crash or Ctrl-C\n"
            "  hwai sweep recipes/jet_tagging_sweep.yaml --address 10.0.0.1:6379\n"
            "  hwai sweep runs/jet_tagging_sweep-sweep --best --synth")
    w.add_argument("target", type=Path, help="recipe with a search: block (or, with --best, a sweep folder)")
    w.add_argument("--resume", action="store_true", help="continue a killed sweep; finished trials are kept")
    w.add_argument("--address", help="HOST:PORT of a Ray head ('ray start --head'); default: this machine")
    w.add_argument("--trials", type=int, help="override search.trials")
    w.add_argument("--time-limit", type=float, metavar="S", help="override search.time_limit_s (seconds)")
    w.add_argument("--data", help="local dataset file overriding data.source")
    w.add_argument("--out", type=Path, help="sweep folder (default runs/<recipe name>-sweep)")
    w.add_argument("--best", action="store_true", help="re-run the sweep's chosen point through emit, C-sim, RTL")
    w.add_argument("--synth", action="store_true", help="with --best: confirm the budget with Yosys")
    add_set_flag(w)
    w.set_defaults(func=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from hwai.api import load
    from hwai.sweep.driver import default_sweep_dir, run_sweep

    if args.best:
        return _sweep_best(args)
    overrides = set_overrides(args.target, args.set)
    args.sweep_dir = Path(args.out or default_sweep_dir(load(args.target, overrides).name))  # for the hint
    # progress lines go to stdout, which _human_output sends to stderr (--json) or nowhere (--quiet)
    sweep_dir = run_sweep(args.target, args.sweep_dir, resume=args.resume, address=args.address,
                          trials=args.trials, time_limit=args.time_limit, data=args.data, overrides=overrides)
    doc = json.loads((sweep_dir / "sweep.json").read_text())
    result(args, {"ok": True, "sweep_dir": str(sweep_dir), "sweep": doc}, str(sweep_dir) if args.quiet else "")
    return 0


def _sweep_best(args: argparse.Namespace) -> int:
    from hwai.sweep.best import run_best

    if args.set:
        raise RecipeError(f"--set {args.set[0]}: --best re-runs the point the sweep chose, with the "
                          "sweep's recipe; give --set to the sweep itself")
    run_dir = run_best(args.target, synth=args.synth, data=args.data)
    report = json.loads((run_dir / "report.json").read_text())
    headline = (run_dir / "report.md").read_text().split("## Budget")[0]
    result(args, {"ok": True, "run_dir": str(run_dir), "report": report}, str(run_dir) if args.quiet else headline)
    return 0


def sweep_hint(args: argparse.Namespace) -> str:
    """The command that continues an interrupted sweep (``--resume`` once its folder exists)."""
    from hwai.sweep.driver import MARKER

    parts = ["hwai sweep", shlex.quote(str(args.target))]
    parts += [f"--data {shlex.quote(args.data)}"] if args.data else []
    parts += [f"--out {shlex.quote(str(args.sweep_dir))}"]
    parts += [f"--trials {args.trials}"] if args.trials is not None else []
    parts += [f"--time-limit {args.time_limit:g}"] if args.time_limit is not None else []
    parts += [f"--address {args.address}"] if args.address else []
    parts += [f"--set {shlex.quote(s)}" for s in args.set or []]
    base = " ".join(parts)
    if not (args.sweep_dir / MARKER).is_file():
        return f"nothing was written; rerun: {base}"
    return f"resume with: {base} --resume"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
