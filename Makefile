# The front door. `make` alone lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install demo test lint format emulator bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the tap, the emulator and test tools

demo: $(STAMP) ## Run discovery, a full and an incremental sync on the emulator
	$(BIN)/python scripts/demo.py --out demo-output

test: $(STAMP) ## Install, then run the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP) ## Check formatting and lint rules
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP) ## Reformat the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

emulator: $(STAMP) ## Start the Close API emulator in the foreground (ARGS="--help")
	$(BIN)/close-emulator $(ARGS)

bench: $(STAMP) ## Benchmark against the original tap-closeio 1.6.6
	$(BIN)/python bench/run.py $(ARGS)

clean: ## Remove the virtualenv and generated output
	rm -rf $(VENV) demo-output build *.egg-info .pytest_cache
