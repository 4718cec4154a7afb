# Two commands on a fresh machine: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo serve test lint browser clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed  ## run the marketplace with demo data on http://127.0.0.1:8000
	$(BIN)/nmrx demo

serve: $(BIN)/.installed
	$(BIN)/nmrx serve

browser:  ## Debian's chromium for the browser tests (never a downloaded browser)
	@bash scripts/ensure-chromium

lint: $(BIN)/.installed  ## ruff, ruff format and mypy (settings in pyproject.toml; the same as .pre-commit-config.yaml)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: $(BIN)/.installed browser lint  ## the whole test suite
	$(BIN)/pytest -n auto --dist loadfile

clean:
	rm -rf $(VENV) data .pytest_cache .hypothesis
