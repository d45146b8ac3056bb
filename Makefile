# make demo   : install, fetch the embedded snapshot (dvc pull, offline) and run the whole pipeline (dvc repro)
# make test   : install and run the test suite (what CI runs)
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: install pull demo test lint lock clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	# CPU build of torch first (a GPU machine installs its CUDA build instead)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[all,dev]'
	touch $@

install: $(VENV)/.installed

# the snapshot only (data.dvc): stage outputs are made by `dvc repro`, not pulled
pull: install
	dvc pull -q data.dvc

demo: pull
	dvc repro
	dvc metrics show --md

test: pull
	$(BIN)/python -m pytest -q tests

lint: install
	$(BIN)/ruff check src tests

# components/constraints.txt: the image's exact Python packages, from this environment
lock: install
	$(BIN)/langadapt pipeline lock

clean:
	rm -rf $(VENV)
