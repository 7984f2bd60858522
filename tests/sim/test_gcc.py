"""g++ driver: ap_types lookup, error reporting with file:line, content-keyed cache."""

from __future__ import annotations

import numpy as np
import pytest

from hwai.codegen.fileset import FileSet
from hwai.codegen.native import generate
from hwai.ir.graph import Graph, Node, Tensor
from hwai.ir.types import FixedType as F
from hwai.sim import gcc
from hwai.target import Target

LOG = """In file included from tb/p_bridge.cpp:3:
firmware/layers/relu_r.h:12:5: error: 'oops' was not declared in this scope
firmware/p.cpp:9:1: error: second
"""


def tiny_graph() -> Graph:
    t_in, t_out = Tensor("x", (3,), F(8, 3)), Tensor("y", (3,), F(4, 1, False, "RND", "SAT"))
    return Graph("tiny", ("x",), ("y",), {"x": t_in, "y": t_out},
                 (Node("r", "relu", ("x",), ("y",)),))


@pytest.mark.unit
def test_first_error_quotes_file_and_line() -> None:
    assert gcc.first_error(LOG) == "firmware/layers/relu_r.h:12:5: 'oops' was not declared in this scope"
    assert gcc.first_error("fatal: nothing\n") is None
    assert gcc.first_error("a.cpp:1:2: fatal error: x.h: No such file\n") == "a.cpp:1:2: x.h: No such file"


@pytest.mark.unit
def test_cache_key_follows_sources_not_vectors() -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    files = generate(tiny_graph(), Target(project_name="p"))
    key = gcc.build_key(files, ["tb/p_bridge.cpp"], True)
    assert key == gcc.build_key(files.with_file("tb_data/inputs.dat", "1 2 3\n"), ["tb/p_bridge.cpp"], True)
    assert key != gcc.build_key(files.with_file("firmware/extra.h", "//\n"), ["tb/p_bridge.cpp"], True)
    assert key != gcc.build_key(files, ["tb/p_bridge.cpp"], False)
    assert (gcc.ap_types_dir() / "ap_fixed.h").is_file()


@pytest.mark.csim
def test_compile_error_names_generated_file_and_line() -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    files = generate(tiny_graph(), Target(project_name="p"))
    header = "firmware/layers/relu_r.h"
    lines = files.text(header).splitlines()
    at = next(i for i, line in enumerate(lines) if "y[i] =" in line)
    lines[at] = "        y[i] = oops;"
    broken = files.with_file(header, "\n".join(lines) + "\n")
    with pytest.raises(gcc.CompileError, match=rf"{header}:{at + 1}:\d+: .*oops"):
        gcc.build_cached(broken, ["tb/p_bridge.cpp"], "lib.so", shared=True)


@pytest.mark.csim
def test_build_is_cached_and_runs(tmp_path) -> None:
    pytest.importorskip("hls4ml", reason="the ap_types headers come with hls4ml")
    from hwai.sim.native_csim import csim_native

    g = tiny_graph()
    files = generate(g, Target(project_name="p"))
    first = gcc.build_cached(files, ["tb/p_bridge.cpp"], "libcsim.so", shared=True)
    stamp = first.stat().st_mtime_ns
    again = gcc.build_cached(files, ["tb/p_bridge.cpp"], "libcsim.so", shared=True)
    assert again == first and again.stat().st_mtime_ns == stamp
    x = np.array([[-128, -1, 0], [1, 37, 127]])
    # ap_ufixed<4,1,AP_RND,AP_SAT> of max(x, 0) with 5 fractional bits in: round half up by 2 bits
    assert csim_native(g, files, x).tolist() == [[0, 0, 0], [0, 9, 15]]
    written = files.write(tmp_path / "proj")  # a project folder works too (same digest: cached)
    assert csim_native(g, tmp_path / "proj", x).tolist() == [[0, 0, 0], [0, 9, 15]]
    assert len(written) == len(FileSet.from_dir(tmp_path / "proj"))
