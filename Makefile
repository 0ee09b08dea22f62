# The two commands of the README:
#   make demo   set everything up from nothing and run the main job
#   make test   set everything up and run the test suite
# Only Python 3.11 is assumed; uv is installed into it on first use.

PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")

.PHONY: setup system browser demo test test-all bench clean

setup:
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || command -v uv >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv>=0.5"
	$(UV) sync --frozen

# Headless Chromium for the lead card's browser test (tests/test_ui_browser.py).
# Debian's package; as root with apt-get it is installed here, otherwise we say how.
CHROMIUM ?= /usr/bin/chromium

browser:
	@if [ -x "$(CHROMIUM)" ]; then \
		echo "Chromium for the browser test: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser test (apt-get)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	else \
		echo "No $(CHROMIUM): the browser test will be skipped. Install Chromium with:"; \
		echo "    sudo apt-get install --no-install-recommends chromium   (Debian/Ubuntu)"; \
	fi

# Debian system parts some tests need: PostgreSQL's server (initdb, pg_ctl) for the tests on a
# real database (tests/support.py starts a throwaway one) and a Java runtime for Spark. As root
# with apt-get, what is missing is installed here (one update, one install); otherwise we say
# how, and the tests that need them skip with the reason.
HAVE_POSTGRES := command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1

system:
	@missing=""; \
	if $(HAVE_POSTGRES); then echo "PostgreSQL for the database tests: found"; \
	else missing="$$missing postgresql"; fi; \
	if command -v java >/dev/null 2>&1; then echo "Java for Spark: $$(command -v java)"; \
	else missing="$$missing openjdk-17-jre-headless"; fi; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's$$missing (apt-get)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	else \
		echo "Missing$$missing: the tests that need them will be skipped. Install with:"; \
		echo "    sudo apt-get install --no-install-recommends$$missing   (Debian/Ubuntu)"; \
	fi

DEMO_KEY := data/demo-api-key

# The lead store of the demo: a SQLite file beside the demo's data.
DEMO_STORE := sqlite:///$(CURDIR)/data/store/leads.db

demo: system setup
	$(UV) run mqlscore demo
	$(UV) run mqlscore build
	$(UV) run mqlscore store load --data data/demo --store $(DEMO_STORE)
	@test -s $(DEMO_KEY) || $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(32))" > $(DEMO_KEY)
	@echo "The demo's API key is in $(DEMO_KEY): export MQLSCORE_API_KEY=\$$(cat $(DEMO_KEY))"
	@echo "Stored leads and their score timelines: http://127.0.0.1:3000/ui (sign in with the key, then 'Stored leads')"
	MQLSCORE_API_KEY_FILE=$(CURDIR)/$(DEMO_KEY) $(UV) run mqlscore serve --scores data/demo-scores.csv \
		--store $(DEMO_STORE) --clock-from export

# With Chromium, PostgreSQL or Java present, their tests must run (they fail instead of skipping).
test: system setup browser
	@if [ -x "$(CHROMIUM)" ]; then export MQLSCORE_REQUIRE_BROWSER=1; fi; \
		if $(HAVE_POSTGRES); then export MQLSCORE_REQUIRE_POSTGRES=1; fi; \
		if command -v java >/dev/null 2>&1; then export MQLSCORE_REQUIRE_SPARK=1; fi; \
		echo "$(UV) run pytest -m \"not slow\""; $(UV) run pytest -m "not slow"

test-all: system setup browser
	@if [ -x "$(CHROMIUM)" ]; then export MQLSCORE_REQUIRE_BROWSER=1; fi; \
		if $(HAVE_POSTGRES); then export MQLSCORE_REQUIRE_POSTGRES=1; fi; \
		if command -v java >/dev/null 2>&1; then export MQLSCORE_REQUIRE_SPARK=1; fi; $(UV) run pytest

bench: setup
	$(UV) run python benchmarks/bench_generate.py
	$(UV) run python benchmarks/bench_features.py
	$(UV) run python benchmarks/bench_decay.py
	$(UV) run python benchmarks/bench_model.py
	$(UV) run python benchmarks/bench_service.py
	$(UV) run python benchmarks/bench_store.py

clean:
	rm -rf data mlflow.db mlruns .pytest_cache
