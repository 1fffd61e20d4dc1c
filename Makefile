# The interface to Steward. `make run` and `make test` set up everything on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/data/dagster

.PHONY: run test test-dates lint ui serve bench report clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(DAGSTER_HOME):
	mkdir -p $(DAGSTER_HOME)

run: $(STAMP) $(DAGSTER_HOME)  ## the whole governed pipeline, end to end, with a summary
	$(BIN)/steward run

# --dist loadfile: a module's tests run on one worker, so a module fixture (an estate built once
# and followed through its runs) is built once. (pytest 9 ignores xdist 3.8's loadgroup marks.)
# --durations: the slowest tests are listed at the end, where the suite's time goes.
test: $(STAMP)  ## the policy check, then every test (the main job end to end on a tiny estate too)
	$(BIN)/steward policy check
	$(BIN)/pytest -n 2 --dist loadfile --durations=25

test-dates: $(STAMP)  ## the date-sensitive tests again on 29 February, 31 December and six years on
	$(BIN)/python -m tests.clock | while read -r day offset; do \
	    echo "== the date-sensitive tests on $$day (STEWARD_NOW=$$offset)"; \
	    STEWARD_TEST_MODE=1 STEWARD_NOW=$$offset $(BIN)/pytest -n 2 --dist loadfile -m clock -p no:cacheprovider \
	        || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .
	mkdir -p .venv/lint-store  # dbt's templater opens a (here empty) store
	# ... and writes its artifacts aside, not into the target the runs compile and copy from
	DBT_TARGET_PATH=$(CURDIR)/.venv/lint-target STEWARD_STORE_DIR=$(CURDIR)/.venv/lint-store \
	    $(BIN)/sqlfluff lint dbt_project/models

ui: $(STAMP) $(DAGSTER_HOME)  ## the Dagster UI on http://127.0.0.1:3000
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

serve: $(STAMP) $(DAGSTER_HOME)  ## Steward as a shared service: webserver, daemon, Celery workers
	$(BIN)/steward deployment start

report: $(STAMP)  ## the governance report data/reports/index.html (and quality.html)
	$(BIN)/steward report

bench: $(STAMP)  ## ingest and dbt against raw DuckDB; BENCH_ROWS=10000000 for the 10M run
	$(BIN)/python -m bench.run

clean:
	rm -rf data dbt_project/target dbt_project/logs
