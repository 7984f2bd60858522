"""``hwai sweep SWEEP_DIR --best``: the chosen point, re-run to firmware (emit, C-sim, RTL)."""

from __future__ import annotations

import json
from pathlib import Path

from hwai.errors import HwaiError, RunFolderError
from hwai.sweep.space import METHOD, parse_search, trial_document

# the firmware steps --best adds when the recipe lacks them (trials stop at the budget)
FIRMWARE = [{"emit": {"backend": ["native", "verilog"]}}, {"csim": {"vectors": 10000}}, {"rtl": {"vectors": 100000}}]


def run_best(sweep_dir: Path, synth: bool = False, data: str | None = None) -> Path:
    """Run the chosen point's full recipe into ``<sweep>/best``; returns that run folder. The data is
    ``data``, else the file the sweep ran on (``hwai sweep --data``), else the recipe's source."""
    from hwai.recipe.runner import run_recipe
    from hwai.recipe.schema import recipe_from_dict
    from hwai.sweep.driver import MARKER

    summary = sweep_dir / "sweep.json"
    if not (sweep_dir / MARKER).is_file() or not summary.is_file():
        raise RunFolderError(f"{sweep_dir}: not a finished hwai sweep (no {MARKER} / sweep.json); "
                             "give the folder hwai sweep RECIPE wrote")
    chosen = json.loads(summary.read_text()).get("chosen")
    if not chosen:
        raise HwaiError(f"{sweep_dir}: no trial finished inside the budget; nothing to re-run "
                        "(loosen the budget or widen search.space)")
    doc = json.loads((sweep_dir / "recipe.json").read_text())
    marker = json.loads((sweep_dir / MARKER).read_text())
    search = parse_search(doc, marker["recipe"])
    # the trial's own ledger: every value it was run with (sweep.json shows only those its steps read)
    settings = json.loads((sweep_dir / "trials" / chosen["trial"] / "trial.json").read_text())["settings"]
    full = with_firmware(trial_document(doc, search, {**settings, METHOD: chosen["method"]}, firmware=True))
    recipe = recipe_from_dict(full, Path(marker["recipe"]))
    run_recipe(recipe, sweep_dir / "best", data_path=data or marker.get("data"), force=True, synth=synth)
    return sweep_dir / "best"


def with_firmware(doc: dict) -> dict:
    names = [next(iter(s)) if isinstance(s, dict) else s for s in doc["steps"]]
    extra = [s for s in FIRMWARE if next(iter(s)) not in names]
    if "emit" in names and "rtl" not in names:
        _add_verilog(doc)
    return {**doc, "steps": doc["steps"] + extra}


def _add_verilog(doc: dict) -> None:
    """RTL simulates the Verilog, so a recipe's own emit must write it."""
    for s in doc["steps"]:
        if isinstance(s, dict) and "emit" in s:
            cfg = s["emit"] or {}
            backends = cfg.get("backend", ["hls4ml", "native"])
            backends = [backends] if isinstance(backends, str) else list(backends)
            s["emit"] = {**cfg, "backend": backends + (["verilog"] if "verilog" not in backends else [])}

