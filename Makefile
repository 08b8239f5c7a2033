# pano-depth workbench. Every target sets itself up first (see scripts/setup.sh).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
GPU ?= 0
STAMP := $(VENV)/.setup-$(shell (sha1sum pyproject.toml scripts/setup.sh; echo GPU=$(GPU)) | sha1sum | cut -c1-12)
export PYTHONHASHSEED := 0
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup demo test lint lab bench clean notebooks nbval notebooks-matrix

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	PYTHON=$(PYTHON) VENV=$(VENV) GPU=$(GPU) bash scripts/setup.sh
	rm -f $(VENV)/.setup-*
	touch $@

demo: setup  ## run the main job end to end on data_samples/ into outputs/demo/
	$(VENV)/bin/workbench demo --out outputs/demo

test: setup  ## lint, then all tests (unit, doctests, every notebook run in the browser test)
	$(VENV)/bin/ruff check workbench tests benchmarks scripts
	$(PY) -m pytest -q -n 2 --dist loadscope tests workbench

nbval: setup  ## the committed notebooks re-run under nbval (deterministic outputs compared)
	$(PY) -m pytest -q --nbval --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks

notebooks: setup  ## regenerate and execute notebooks/ (commit the executed notebooks)
	$(PY) scripts/make_notebooks.py
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=180 --ExecutePreprocessor.store_widget_state=False \
		notebooks/*.ipynb

notebooks-matrix: setup  ## every notebook headless on every kind of sample dataset (8 x 7 runs)
	WORKBENCH_NOTEBOOK_MATRIX=1 $(PY) -m pytest -q -n 2 tests/test_notebook_runner.py

lint: setup
	$(VENV)/bin/ruff check workbench tests benchmarks scripts
	$(VENV)/bin/ruff format --check workbench tests benchmarks scripts

lab: setup  ## JupyterLab on notebooks/ with the package importable
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

bench: setup  ## every benchmark; writes benchmarks/results/*.json
	$(PY) -m benchmarks.run

clean:
	rm -rf outputs artifacts .pytest_cache .hypothesis
