# The few targets people type. `make demo`, `make train-demo` and `make test` each set up everything
# they need.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Tests and benchmarks run with Debian's OpenBLAS preloaded (MLX's bundled BLAS is ~30x slower);
# the octo-mlx command does that by itself.
WITH_BLAS := bash scripts/with-openblas.sh

.PHONY: setup demo train-demo test test-slow lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: setup
	bash scripts/demo.sh

train-demo: setup
	bash scripts/train-demo.sh

test: setup
	$(BIN)/ruff check octo_mlx tests benchmarks experiments
	$(WITH_BLAS) $(BIN)/pytest -q

test-slow: setup
	$(WITH_BLAS) $(BIN)/pytest -q -m slow

lint: setup
	$(BIN)/ruff check octo_mlx tests benchmarks experiments
	$(BIN)/ruff format --check octo_mlx tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
