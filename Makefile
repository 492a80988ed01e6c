# The two commands a newcomer runs (see README.md):
#   make stress-suite   set up .venv if needed, run the stress suite, write reports/stress/certification.{html,json}
#   make test           set up .venv (with the test extra) if needed, run every test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: stress-suite test lint clean clean-numba benchmark

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamps re-run the install when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

stress-suite: $(VENV)/.installed
	$(PY) -m pytest -m stress --stress-report=html --stress-report=json $(PYTEST_ARGS)

# System packages for the browser tests (Debian's chromium, as root with apt-get); a no-op once installed,
# and never an error: without them those tests skip (under CI=true they fail).
test: $(VENV)/.installed-test
	sh ci/install-system-deps.sh
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

benchmark: $(VENV)/.installed-test
	$(PY) -m pytest tests/benchmarks --benchmark-only

clean-numba:
	find pytest_stress -name '*.nb[ic]' -delete

clean:
	rm -rf $(VENV) reports .pytest_cache .benchmarks build dist
	find . -name __pycache__ -prune -exec rm -rf {} +
