# The two commands of the README: `make run` and `make test`. Both work on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast install services lint clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Haven needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# The console's map library (Leaflet) comes from the npm registry; Debian's npm is installed when missing.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; } || \
	  { echo "error: npm is missing and this is not root: apt-get install nodejs npm" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed node_modules/.package-lock.json

run: install
	$(BIN)/haven run

services:
	bash scripts/ensure_services.sh

lint: install
	$(BIN)/ruff check .

# Two lanes, both always run: everything on two pytest-xdist processes (whole files per process, each
# process with its own PostgreSQL database and Redis prefix), then the `serial` drills, whose assertions
# are about time (recovery within N s, peak rates), alone. Exit status 5 is "nothing selected" (PYTEST_ARGS).
test: install services lint
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not serial" $(PYTEST_ARGS); parallel=$$?; \
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS); serial=$$?; \
	for status in $$parallel $$serial; do [ $$status = 0 ] || [ $$status = 5 ] || exit $$status; done

# The fast lane: rules, parsers and SQLite-only tests; no PostgreSQL, workers, served API or browser.
test-fast: install lint
	$(BIN)/python -m pytest -m "not services" -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
