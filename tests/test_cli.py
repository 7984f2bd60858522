"""The hwai command line: help, exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hwai.cli import main


def test_help_lists_commands(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("compress", "emit", "csim", "synth", "report"):
        assert cmd in out


def test_bad_recipe_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "model": {"arch": "jet_mlp"}, "steps": [{"trian": {}}]}))
    out = tmp_path / "run"
    assert main(["compress", str(recipe), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hwai: ") and "did you mean 'train'" in err and "\n" not in err
    assert not out.exists()


def test_missing_data_file_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "model": {"arch": "jet_mlp"}, "steps": ["train"]}))
    out = tmp_path / "run"
    assert main(["compress", str(recipe), "--data", str(tmp_path / "nope.npz"), "--out", str(out)]) == 2
    assert "nope.npz" in capsys.readouterr().err
    assert not out.exists()


def test_bad_data_key_names_file_and_keys(tmp_path: Path, capsys) -> None:
    data = tmp_path / "d.npz"
    np.savez(data, features=np.zeros((50, 4), np.float32), y=np.zeros(50, np.int64))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({"name": "x", "model": {"arch": "jet_mlp"}, "steps": ["train"],
                                      "data": {"source": str(data)}}))
    assert main(["compress", str(recipe), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "d.npz" in err and "features" in err


def test_report_on_unfinished_run(tmp_path: Path, capsys) -> None:
    (tmp_path / "status.json").write_text('{"status": "failed", "error": "boom"}')
    assert main(["report", str(tmp_path)]) == 1
    assert "did not complete" in capsys.readouterr().err


def test_emit_on_non_run_folder(tmp_path: Path, capsys) -> None:
    assert main(["emit", str(tmp_path), "--backend", "native"]) == 2
    assert "not an hwai run folder" in capsys.readouterr().err
