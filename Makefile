# The few targets people type. `make demo` and `make test` each set up everything they need.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Debian's OpenBLAS: MLX's bundled BLAS is ~50x slower for float32 matmul on Linux (see README).
OPENBLAS := /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
ifneq ($(wildcard $(OPENBLAS)),)
export LD_PRELOAD := $(OPENBLAS)$(if $(LD_PRELOAD), $(LD_PRELOAD),)
endif

.PHONY: setup demo test test-slow lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: setup
	bash scripts/demo.sh

test: setup
	$(BIN)/ruff check octo_mlx tests benchmarks
	$(BIN)/pytest -q

test-slow: setup
	$(BIN)/pytest -q -m slow

lint: setup
	$(BIN)/ruff check octo_mlx tests benchmarks
	$(BIN)/ruff format --check octo_mlx tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
