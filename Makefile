# Three entry points: `make demo` runs objbackup on an embedded sandbox, `make check` is the fast
# loop before a commit (lint, types, the fast tests), `make test` runs every check (CI runs it).
# Each creates and uses a local virtual environment; nothing is installed outside it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo check test lint checkov unit test-min bench clean venv
CHECKOV_VENV := .venv-checkov

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "objbackup needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,lint]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/objbackup demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	@if ls cloudformation/*.yaml >/dev/null 2>&1; then $(BIN)/cfn-lint cloudformation/*.yaml; fi

# checkov conflicts with pytest's dependencies, so it lives in a virtual environment of its own.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov>=3.2,<4'
	touch $@

checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --directory cloudformation --framework cloudformation \
		--compact --quiet --skip-download

# Two workers, one per core; a test file stays on one worker so its module fixtures (a sandbox,
# a deployment) are built once. The "ci" Hypothesis profile runs every property test's full count.
unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile --durations=15 --hypothesis-profile=ci

# The fast loop: lint and types, then the tests marked neither slow nor e2e (tests/conftest.py marks
# every sandbox-over-HTTP test e2e), with a tenth of the Hypothesis examples ("dev" profile). No
# module there builds a costly fixture, so tests rather than files are shared out: `worksteal`
# lets an idle worker take pending tests from the busy one, and both finish together.
check: lint
	$(BIN)/pytest -n 2 --dist worksteal -q -m "not slow and not e2e" --hypothesis-profile=dev

# The lowest releases pyproject.toml allows, pinned by constraints/minimum.txt (build backend too),
# in a virtual environment of their own: a floor set too low fails here. The unit and CLI tests of
# `make check` (not slow, not e2e, the dev Hypothesis profile), less the long randomised ones
# (stateful, races): they make the same calls as the rest.
MIN_VENV := .venv-min
MINIMUM  := constraints/minimum.txt

$(MIN_VENV)/.installed: pyproject.toml $(MINIMUM)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python -m pip install --quiet -c $(MINIMUM) --build-constraint $(MINIMUM) \
		-e '.[dev]'
	touch $@

test-min: $(MIN_VENV)/.installed
	$(MIN_VENV)/bin/pytest -n 2 --dist loadfile -q tests/unit tests/cli \
		-m "not slow and not e2e" --hypothesis-profile=dev \
		--ignore=tests/unit/test_stateful.py --ignore=tests/unit/test_races.py

test: lint checkov unit test-min

bench: $(STAMP)
	$(BIN)/python -m bench.api_calls
	$(BIN)/python -m bench.bundle
	$(BIN)/python -m bench.cli

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(MIN_VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
