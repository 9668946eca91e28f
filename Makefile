# rpaf Makefile. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The torch pair installed before the project. pyiqa needs torchvision, and the index's
# torchvision does not import beside torch 2.13.0, so the default is the 2.14.1 pair.
# Keep an existing (e.g. CUDA) torch with `make install TORCH=`.
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Offline pyiqa parameter files: the developers' shared folder when present; users leave it
# unset and pyiqa downloads its own files on first use.
RPAF_IQA_DIR ?= $(shell [ -d ../shared/iqa ] && cd ../shared/iqa && pwd)
ifneq ($(RPAF_IQA_DIR),)
export RPAF_IQA_DIR
endif
# Pin for every later pip call: pip never upgrades torch past what is installed.
PIP_CONSTRAINT_FILE := $(VENV)/torch-constraint.txt

.PHONY: help install main test test-fast lint format clean train train-natural train-mini-soup sweep reproduce-tables bench strip-notebooks

SCALE ?= smoke

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

STAMP := $(VENV)/.rpaf-installed

install: $(STAMP) ## create .venv, install the torch pair, then rpaf[dev] (TORCH= keeps your torch)

# Re-runs only when pyproject.toml changed since the last successful install.
$(STAMP): pyproject.toml | $(PY)
	@if [ -n "$(TORCH)" ]; then $(PIP) install $(TORCH); fi
	$(PY) -c "import torch, torchvision; print(f'torch=={torch.__version__.split(\"+\")[0]}'); print(f'torchvision=={torchvision.__version__.split(\"+\")[0]}')" > $(PIP_CONSTRAINT_FILE)
	PIP_CONSTRAINT=$(abspath $(PIP_CONSTRAINT_FILE)) $(PIP) install -e '.[dev]'
	@$(PY) -c "import rpaf, torch; print('rpaf', rpaf.__version__, 'torch', torch.__version__)"
	@touch $@

main: install ## the main job: train briefly, evaluate, write images + tables (synthetic data)
	$(VENV)/bin/rpaf-train experiment=quickstart

train: install ## train with Hydra overrides: make train ARGS="experiment=cpu_mini"
	$(VENV)/bin/rpaf-train $(ARGS)

train-natural: install ## natural-image recipe, both stages (~95 min on a CPU core): ARGS="seed=1"
	$(VENV)/bin/rpaf-train experiment=cpu_mini_natural $(ARGS)
	$(VENV)/bin/rpaf-train experiment=cpu_mini_natural_ft $(ARGS)

SEED ?= 0
LOG_DIR ?= logs
SOUP_ALPHA ?= 0.75

train-mini-soup: install ## cpu_mini, then its natural fine-tune mixed with it (~75 min on a CPU core): SEED=1
	$(VENV)/bin/rpaf-train experiment=cpu_mini seed=$(SEED) paths.log_dir=$(LOG_DIR) $(ARGS)
	$(VENV)/bin/rpaf-train experiment=cpu_mini_ft seed=$(SEED) paths.log_dir=$(LOG_DIR) \
	  init_weights_mix=$(SOUP_ALPHA) $(ARGS)
	@$(PY) -c "from pathlib import Path; from rpaf.config_resolvers import last_checkpoint as l; \
	  c = Path(l('$(LOG_DIR)/cpu_mini_ft', $(SEED))).with_name('mixed.ckpt'); \
	  print(f'network: {c}\nevaluate: rpaf-eval ckpt_path={c} model_overrides.refine_kernel=11 data=...')"

sweep-%: install ## run a paper ablation sweep, e.g. make sweep-alpha_beta ARGS="seed=0,1,2"
	$(VENV)/bin/rpaf-train -m sweep=$* $(ARGS)

REAL_SAMPLES ?= ../shared/data/real-samples

reproduce-tables: install ## run (or reuse) what the paper tables need, then build them: SCALE=smoke|mini|paper
	@if [ -d "$(REAL_SAMPLES)" ]; then $(PY) -m rpaf.data.real_pairs $(REAL_SAMPLES) data/real_pairs; \
	  $(PY) -m rpaf.data.nks_composites $(REAL_SAMPLES) data/nks_composites; fi
	$(PY) -m rpaf.reproduce --scale $(SCALE) $(ARGS)

bench: install ## model + GELR benchmarks (writes experiments/bench/)
	$(PY) -m rpaf.bench model $(ARGS)
	$(PY) -m rpaf.bench gelr $(ARGS)

strip-notebooks: ## remove outputs from the committed notebooks
	$(PY) tools/strip_notebooks.py

test: install ## install what is missing, then run the whole test suite
	$(PY) -m pytest -q

test-fast: ## run the tests without reinstalling or the slow ones
	$(PY) -m pytest -q -m "not slow"

lint: ## ruff check
	$(VENV)/bin/ruff check src tests tools

format: ## ruff format + fix imports
	$(VENV)/bin/ruff check --fix src tests
	$(VENV)/bin/ruff format src tests

clean: ## remove caches and run outputs (keeps .venv)
	rm -rf .pytest_cache .ruff_cache build dist src/*.egg-info logs outputs multirun wandb
	find . -name __pycache__ -type d -not -path './.venv/*' -exec rm -rf {} +
