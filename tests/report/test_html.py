"""report.html: self-contained (plots inline), the sections a person looks at, and a real
headless Chromium that loads the page and decodes every plot."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hwai.report.html import render, write_sweep_html

PNG_1PX = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    pytest.skip("chromium not installed (make system-deps installs it); the browser check is skipped")


def dump_dom(page: Path) -> str:
    out = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def plots_loaded(dom: str) -> int:
    m = re.search(r'data-plots-loaded="(\d+)"', dom)
    assert m, "the page's load script did not run"
    return int(m.group(1))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, jets_npz: Path) -> Path:
    """A real tiny run (train 1 epoch, quantize, lower, estimate, emit, csim): its report.html."""
    pytest.importorskip("qkeras")
    import hwai.api as hw

    out = tmp_path_factory.mktemp("run") / "run"
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "jet_tagging.yaml"
    steps = [{"train": {"epochs": 1, "batch_size": 256}},
             {"quantize": {"bits": 4, "integer": 0, "activation": {"bits": 4, "integer": 0}, "epochs": 1}},
             {"lower": {"input": {"width": 8, "integer": 2}}},  # a narrow input type: some features overflow
             "estimate", {"emit": {"backend": ["native"]}}, {"csim": {"vectors": 300}}]
    hw.compress(recipe, data=str(jets_npz), out=out, overrides={
        "model": {"hidden": [8]}, "data": {"max_rows": 3000}, "steps": steps})
    return out


def test_run_report_is_self_contained_with_every_section(tiny_run: Path) -> None:
    html = (tiny_run / "report.html").read_text()
    for title in ("Headline", "Simulation mismatches", "Layers", "Plots", "ROC curves",
                  "input features vs", "exact output vs", "weights vs", "Per-layer bit widths"):
        assert title in html, title
    assert "C-sim native" in html
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(srcs) >= 6 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert all(len(base64.b64decode(s.split(",", 1)[1])) > 1000 for s in srcs)
    assert not re.search(r'src="(?!data:)', html)  # nothing fetched from elsewhere
    over = re.search(r"input features vs [^<]*overflow ([\d,]+)", html)
    assert over and int(over.group(1).replace(",", "")) > 0  # ap_fixed<8,2> cannot hold |x| >= 2


def test_html_escapes_text() -> None:
    page = render("a <b> & c", [{"title": "t", "rows": [{"k": "<script>x</script>"}]}])
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page


def _fake_sweep(folder: Path) -> dict:
    from hwai.sweep import results

    rows = [{"method": "prune", "physics": 0.74, "cost": 20000.0, "feasible": True, "finished": True},
            {"method": "quantize", "physics": 0.72, "cost": 9000.0, "feasible": True, "finished": True},
            {"method": "none", "physics": 0.75, "cost": 90000.0, "feasible": False, "finished": True},
            {"method": "quantize", "physics": 0.5, "cost": 8000.0, "stopped_early": True}]
    for i, r in enumerate(rows):
        (folder / "trials" / f"t{i}").mkdir(parents=True)
        (folder / "trials" / f"t{i}" / "trial.json").write_text(json.dumps({**r, "settings": {"x": i}}))

    class S:
        metric, cost, trials, within, methods = "accuracy", "lut+dsp", 4, 0.0, {}
    results.write_sweep(folder, S(), wall_s=12.0)
    return json.loads((folder / "sweep.json").read_text())


def test_sweep_front_and_recommendation(tmp_path: Path) -> None:
    doc = _fake_sweep(tmp_path)
    assert [r["trial"] for r in doc["front"]] == ["t1", "t0"]       # cheaper-worse, dearer-better
    assert doc["chosen"]["trial"] == "t0"                             # best physics in budget
    assert [t["method"] for t in doc["recommendation"]] == ["prune", "quantize", "none"]
    assert doc["recommendation"][1]["stopped_early"] == 1 and doc["recommendation"][2]["in_budget"] == 0
    html = (tmp_path / "report.html").read_text()
    assert 'href="trials/t0/report.html"' in html and "data:image/png;base64," in html


def test_chromium_loads_the_sweep_page_and_its_plot(tmp_path: Path) -> None:
    _chromium()
    _fake_sweep(tmp_path)
    dom = dump_dom(tmp_path / "report.html")
    assert plots_loaded(dom) == 1 and "Pareto front" in dom


def test_chromium_counts_only_decoded_images(tmp_path: Path) -> None:
    _chromium()
    page = tmp_path / "p.html"
    page.write_text(render("t", [{"title": "f", "figures": [
        {"title": "ok", "uri": "data:image/png;base64," + PNG_1PX},
        {"title": "broken", "uri": "data:image/png;base64,AAAA"}]}]))
    assert plots_loaded(dump_dom(page)) == 1  # the check can fail: a broken plot is not counted


def test_chromium_loads_a_run_page_with_all_plots(tiny_run: Path) -> None:
    _chromium()
    html = (tiny_run / "report.html").read_text()
    dom = dump_dom(tiny_run / "report.html")
    assert plots_loaded(dom) == html.count("<img ") >= 6


def test_write_sweep_html_without_trials(tmp_path: Path) -> None:
    page = write_sweep_html(tmp_path, {"rows": [], "front": [], "recommendation": [], "metric": "accuracy",
                                       "cost": "lut", "trials": 0})
    assert "none" in page.read_text()
