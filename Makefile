# Zhiyuan's make targets. The two that matter: `make demo` and `make test`.
# Everything they need is installed here: uv (bootstrapped when missing), the locked Python
# packages, the npm packages, and — as root — the Debian packages the tests drive.

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
PY := $(CURDIR)/.venv/bin/python
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/.venv

# Debian packages: the demo needs gettext (messages) and Pango (PDF certificates); the tests
# also drive Chromium, read PDFs with poppler, need a CJK font and start PostgreSQL.
DEMO_DEBS := gettext libpango-1.0-0 libpangoft2-1.0-0
TEST_DEBS := $(DEMO_DEBS) chromium fonts-noto-cjk poppler-utils postgresql

.PHONY: help demo test system-deps system-deps-demo venv assets messages compilemessages \
        lint fmt typecheck check pytest-sqlite pytest-postgres clean

help:
	@echo "make demo   build the demo district and serve it on http://127.0.0.1:8000"
	@echo "make test   lint, type-check and run the whole suite on SQLite and PostgreSQL"

# --- installing ------------------------------------------------------------------------------

$(CURDIR)/.tools/bin/uv:
	python3 -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

venv: .venv/.synced

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Front-end packages come from npm; the build copies what the pages load into static/vendor.
zhiyuan/static/vendor/htmx.min.js: node_modules/.installed
	mkdir -p zhiyuan/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

assets: zhiyuan/static/vendor/htmx.min.js

compilemessages: venv
	cd zhiyuan && $(PY) ../manage.py compilemessages --verbosity 0

messages: venv
	cd zhiyuan && $(PY) ../manage.py makemessages -l zh_Hans --no-obsolete --no-location

define install_debs
	@missing=""; for pkg in $(1); do \
	  dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "These Debian packages are missing:$$missing"; \
	    echo "Install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

system-deps-demo:
	$(call install_debs,$(DEMO_DEBS))

system-deps:
	$(call install_debs,$(TEST_DEBS))

# --- the demo --------------------------------------------------------------------------------

demo: system-deps-demo venv assets compilemessages
	@mkdir -p var
	$(PY) -m zhiyuan.cli demo
	@echo "Starting the background worker (log: var/worker.log) and the web server…"
	@$(PY) -m zhiyuan.cli worker --no-reload > var/worker.log 2>&1 & worker=$$!; \
	  trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	  $(PY) -m zhiyuan.cli serve 127.0.0.1:8000

# --- the tests -------------------------------------------------------------------------------

lint: venv
	$(CURDIR)/.venv/bin/ruff check .
	$(CURDIR)/.venv/bin/ruff format --check .

fmt: venv
	$(CURDIR)/.venv/bin/ruff check --fix .
	$(CURDIR)/.venv/bin/ruff format .

typecheck: venv
	$(CURDIR)/.venv/bin/mypy zhiyuan bench

check: venv compilemessages
	ZHIYUAN_ENV=test $(PY) manage.py check --fail-level WARNING
	ZHIYUAN_ENV=test $(PY) manage.py makemigrations --check --dry-run

pytest-sqlite: venv assets compilemessages
	$(CURDIR)/.venv/bin/pytest --db=sqlite -p no:cacheprovider

pytest-postgres: system-deps venv assets compilemessages
	$(CURDIR)/.venv/bin/pytest --db=postgres -p no:cacheprovider

test: system-deps venv assets compilemessages lint typecheck check pytest-sqlite pytest-postgres
	@echo "make test: all checks passed"

clean:
	rm -rf .venv .tools node_modules zhiyuan/static/vendor var/static
