# audiospec: `make demo` and `make test` do all the set-up on a machine that has Python 3.10+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Exact versions the tests passed with (pyproject.toml states lower bounds only).
CONSTRAINTS ?= constraints.txt
STAMP  := $(VENV)/.installed
# pytest-xdist workers for `make test`: one per core (conftest.py gives each cores/workers threads)
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(os.cpu_count() or 1)")

.PHONY: demo test install lint clean-runs notebooks-clean bench help browser-deps wheel

help:
	@echo "make demo   - set up .venv and run the whole course on the built-in mini dataset (runs/demo/)"
	@echo "make test   - set up .venv and run every test, the notebooks included (nbval)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,lab,dist,deploy,app]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	AUDIOSPEC_DATASET=mini $(BIN)/audiospec demo --out runs/demo --data data/mini

# The browser test (tests/browser) drives Debian's Chromium with Playwright: install it when root and missing;
# elsewhere the test is skipped with the reason.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser test (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
		echo "chromium could not be installed: the browser test will be skipped"; \
	fi

test: $(STAMP) browser-deps
	$(BIN)/lint-imports --no-cache
	AUDIOSPEC_DATASET=mini $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider --durations=15 \
		-n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

bench: $(STAMP)
	$(BIN)/python bench/render_speed.py

# The toolkit as one wheel, for a Kaggle kernel without internet: attach dist/ as a dataset and point
# AUDIOSPEC_SOURCE at it (the notebooks' set-up cell installs it with --no-index --no-deps).
wheel: $(STAMP)
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .
	rm -rf build audiospec.egg-info
	@ls dist/*.whl

notebooks-clean: $(STAMP)
	$(BIN)/nbstripout --keep-id notebooks/*.ipynb

clean-runs:
	rm -rf runs
