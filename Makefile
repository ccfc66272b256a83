# Two commands matter: `make run` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export PORT
export FLASK_APP := webapp

.PHONY: run test test-only lock ci serve-production worker vendor translations extract-messages bench clean

# Installs take the exact versions of requirements*.lock (what CI passed with); `make lock`
# updates them after a change to pyproject.toml's dependencies.
$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml requirements-test.lock
	$(BIN)/pip install -q -r requirements-test.lock
	$(BIN)/pip install -q --no-deps -e '.[test]'
	touch $@

# gunicorn, the PostgreSQL driver, the Redis client and supervisord (README "Production").
$(VENV)/.production-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[production]'
	touch $@

# Re-resolve the locks from pyproject.toml (newest versions its caps allow); commit both files.
lock: $(VENV)/.installed
	$(BIN)/pip install -q 'pip-tools>=7.4,<8'
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links --extra=test -o requirements-test.lock pyproject.toml

translations: $(VENV)/.installed
	$(BIN)/pybabel compile -d translations --statistics

# Serve on 127.0.0.1:$(PORT) with SQLite in instance/ and the outbox worker in the same process.
run: $(VENV)/.installed translations
	$(BIN)/flask db upgrade
	$(BIN)/flask routing check
	$(BIN)/flask serve --host 127.0.0.1 --port $(PORT)

# Debian's chromium for the browser tests (never a browser download).
/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; \
	fi

# Debian's nginx for the reverse-proxy test (tests/test_nginx_proxy.py skips without it).
/usr/sbin/nginx:
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	else \
		echo "The reverse-proxy test needs nginx: sudo apt-get install nginx-light (skipped without it)"; \
	fi

node_modules/.package-lock.json: package.json
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm install --no-audit --no-fund --silent
	touch $@

test: $(VENV)/.test-installed translations /usr/bin/chromium /usr/sbin/nginx node_modules/.package-lock.json
	$(BIN)/lint-imports
	$(BIN)/pytest -q

# The suite without the install steps (used by .ci/run for the PostgreSQL pass).
test-only: translations
	$(BIN)/lint-imports
	$(BIN)/pytest -q

# Production-like, locally: supervisord keeps gunicorn (2 workers) and 2 outbox workers on
# DATABASE_URL running, restarting any that dies (deploy/supervisord.conf).
serve-production: $(VENV)/.production-installed translations
	PORT=$(PORT) BIN=$(BIN) scripts/serve_production.sh

worker: $(VENV)/.installed
	$(BIN)/flask worker

# Copy front-end libraries from npm into static/vendor/ with their version and licence.
vendor: node_modules/.package-lock.json
	$(BIN)/python scripts/vendor.py

extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

# BENCH_SIZE=100k BENCH_DB=postgresql make bench: the read benchmark on more data (bench/README.md).
BENCH_SIZE ?= 10k
BENCH_DB ?= sqlite
bench: $(VENV)/.test-installed $(VENV)/.production-installed translations /usr/bin/chromium
	$(BIN)/python bench/read.py --size $(BENCH_SIZE) --db $(BENCH_DB)
	$(BIN)/python bench/photo_pipeline.py
	$(BIN)/python bench/page_weight.py

clean:
	rm -rf $(VENV) node_modules
