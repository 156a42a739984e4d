# textgate: two commands on a fresh machine (Python >= 3.11, make, bash):
#   make run    install the runtime and start the gateway on embedded defaults
#   make test   install the development tools and run the test suite (SQLite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run run-smpp test test-postgres lint bench install install-dev locks browser node clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: requirements/run.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/run.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: requirements/dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(VENV)/.run-installed $@

# The interop tests drive node-smpp as an SMPP customer, twilio-node as a Twilio API client
# and labsmobile-sms as a LabsMobile JSON API client: their exact versions are in the
# committed package-lock.json, installed again only when that changes.
NODE_INTEROP := tests/interop/node
$(NODE_INTEROP)/node_modules/.installed: $(NODE_INTEROP)/package.json \
		$(NODE_INTEROP)/package-lock.json | node
	cd $(NODE_INTEROP) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.run-installed
install-dev: $(VENV)/.dev-installed $(NODE_INTEROP)/node_modules/.installed

# Regenerate both lock files from pyproject.toml, with the hash of every file of each pinned
# release (the installs above refuse anything else). Pinned versions stay unless
# pyproject.toml needs others: ARGS=--upgrade, or ARGS='--upgrade-package NAME', moves them.
PIP_TOOLS := pip-tools==7.7.0
LOCK := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --no-emit-index-url \
	--no-emit-find-links
locks: | $(BIN)/python
	$(BIN)/pip install --quiet $(PIP_TOOLS)
	$(LOCK) $(ARGS) --output-file requirements/run.lock pyproject.toml
	$(LOCK) $(ARGS) --extra dev --output-file requirements/dev.lock pyproject.toml

# The development gateway: --demo makes the demo account and prints its key and password
# (a plain `serve` never does). It also takes email-to-SMS on 127.0.0.1:2525 and SMPP binds on
# 127.0.0.1:2775 (both off by default in config, so that tests and several gateways on one
# host do not fight for the ports).
run: install
	TEXTGATE_SMTP__ENABLED=$${TEXTGATE_SMTP__ENABLED:-true} \
	TEXTGATE_SMPP_SERVER__ENABLED=$${TEXTGATE_SMPP_SERVER__ENABLED:-true} \
	$(BIN)/textgate serve --demo $(ARGS)

# The gateway with the SMSC simulator as its carrier, over SMPP on 127.0.0.1:2776.
SMSC_CONNECTOR := [{"name": "smsc", "type": "smpp", "options": {"host": "127.0.0.1", "port": 2776, "system_id": "textgate", "password": "textgate"}}]
run-smpp: install
	$(BIN)/textgate smsc --log-level WARNING & smsc=$$!; \
	trap 'kill $$smsc' EXIT INT TERM; \
	TEXTGATE_CONNECTORS='$(SMSC_CONNECTOR)' $(BIN)/textgate serve --demo $(ARGS)

# Node.js and npm for the interop tests, from Debian's packages where they are missing.
node:
	command -v node >/dev/null && command -v npm >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y nodejs npm || { apt-get update && apt-get install -y nodejs npm; }; }

# The dashboard's browser tests drive Debian's Chromium (never a downloaded one).
browser:
	command -v /usr/bin/chromium >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; }

test: install-dev browser
	$(BIN)/pytest $(ARGS)

test-postgres: install-dev browser
	TEXTGATE_TEST_DATABASE_URL=$${TEXTGATE_TEST_DATABASE_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/textgate_test} $(BIN)/pytest $(ARGS)

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/lint-imports

bench: install-dev
	$(BIN)/python bench/e2e.py $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache $(NODE_INTEROP)/node_modules
