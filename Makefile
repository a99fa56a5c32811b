# The two commands of README.md: `make serve` and `make test`. Each creates .venv and installs
# geokb with everything it needs (from PyPI) on first use; only python3 must be on the machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test lint generate clean browser

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: install
	$(BIN)/geokb build
	$(BIN)/geokb serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check kb api tests bench
	$(BIN)/mypy kb api
	$(BIN)/geokb generate --check

# The browser test drives Debian's headless Chromium; install it when it is missing (as root,
# as on CI; elsewhere install the 'chromium' package yourself).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: lint browser
	$(BIN)/pytest

generate: install
	$(BIN)/geokb generate

clean:
	rm -rf $(VENV) .geokb
