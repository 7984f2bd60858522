# hwai developer entry points. `make setup` is idempotent; everything runs from .venv.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
DATA    ?= ../shared/data/jets_hlf.npz
RECIPE  ?= recipes/jet_tagging.yaml
PYTEST_ARGS ?= -m "not slow and not notebooks"

.PHONY: setup system-deps test test-all test-slow demo bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Pinned, measured-coherent stack (requirements.lock): installs in ~1-2 min, no resolver backtracking.
setup: $(BIN)/python
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps HGQ==0.2.6   # with its deps it pulls tensorflow 2.15 over tensorflow-cpu 2.14 and breaks QKeras
	$(BIN)/pip install -q --no-deps -e .
	@$(BIN)/python -c "import hwai, hls4ml, qkeras, torch, brevitas; print('hwai setup ok')"

# Open-source HDL tools used by the rtl tier and Chromium for the report.html check (Debian; root or sudo).
system-deps:
	@command -v verilator >/dev/null && command -v iverilog >/dev/null || \
	  ( (command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && S=sudo || S=; \
	    $$S apt-get update -qq && $$S apt-get install -y -qq verilator iverilog >/dev/null) || \
	    echo "warning: could not install verilator/iverilog; rtl tests will skip" )
	@command -v chromium >/dev/null || \
	  ( (command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && S=sudo || S=; \
	    $$S apt-get install -y -qq chromium >/dev/null) || \
	    echo "warning: could not install chromium; the report.html browser test will skip" )

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m "slow"

test-all: setup
	$(BIN)/python -m pytest -m ""

demo: setup
	$(BIN)/hwai compress $(RECIPE) --data $(DATA) --force

bench: setup
	$(BIN)/python bench/run_all.py

# ruff, then the layer contract in pyproject.toml (import-linter; tests/test_layering.py checks it too)
lint: setup
	$(BIN)/ruff check hwai tests bench calibration
	cd $(CURDIR) && PYTHONPATH=$(CURDIR) $(BIN)/lint-imports

clean:
	rm -rf runs build dist *.egg-info .pytest_cache
