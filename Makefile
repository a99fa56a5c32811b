# The two commands of README.md: `make serve` and `make test`. Each creates .venv and installs
# geokb with everything it needs (from PyPI) on first use; only python3 must be on the machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install serve test lint generate clean browser system-packages

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

# The suite drives real programs from Debian's packages: headless Chromium (pages), nginx (the
# HTTP cache in front of replicas) and Virtuoso (a remote store). Install whichever is missing
# (as root, as on CI; elsewhere install the packages yourself).
SYSTEM_PACKAGES := chromium:chromium nginx:nginx virtuoso-t:virtuoso-opensource
system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

browser: system-packages

# The test files run on every core (pytest-xdist), each file's tests in one process, in order:
# the suite's servers and browsers wait on each other far more than they compute.
test: lint system-packages
	$(BIN)/pytest -n auto --dist loadfile

generate: install
	$(BIN)/geokb generate

clean:
	rm -rf $(VENV) .geokb
