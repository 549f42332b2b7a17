# audiospec: `make demo` and `make test` do all the set-up on a machine that has Python 3.10+.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Exact versions the tests passed with (pyproject.toml states lower bounds only).
CONSTRAINTS ?= constraints.txt
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint clean-runs notebooks-clean bench help

help:
	@echo "make demo   - set up .venv and run the whole course on the built-in mini dataset (runs/demo/)"
	@echo "make test   - set up .venv and run every test, the notebooks included (nbval)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev,lab]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	AUDIOSPEC_DATASET=mini $(BIN)/audiospec demo --out runs/demo --data data/mini

test: $(STAMP)
	AUDIOSPEC_DATASET=mini $(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/render_speed.py

notebooks-clean: $(STAMP)
	$(BIN)/nbstripout notebooks/*.ipynb

clean-runs:
	rm -rf runs
