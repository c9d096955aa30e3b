# The two set-up commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
export SDP_HOME ?= $(CURDIR)/.sdp
export DAGSTER_HOME ?= $(SDP_HOME)/dagster
PORT ?= 3000

.PHONY: install install-test demo test lint bench clean

install:  ## Python environment from the lock file (installs uv first if missing)
	@command -v uv >/dev/null || python3 -m pip install --quiet "uv>=0.5,<1"
	uv sync --frozen

install-test: install  ## plus Debian's Chromium for the browser tests
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

.env:
	@echo "SDP_USER_HASH_KEY=$$(python3 -c 'import secrets; print(secrets.token_hex(32))')" > .env
	@echo "wrote .env with a random SDP_USER_HASH_KEY"

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.local.yaml
	mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.local.yaml $@

demo: install .env $(DAGSTER_HOME)/dagster.yaml  ## Kafka, intake, sample events, every dataset, the UI
	PORT=$(PORT) bash deploy/demo.sh

test: install-test  ## the whole test suite (CI runs this through .ci/run)
	uv run pytest

lint:
	uv run ruff check . && uv run ruff format --check .

bench: install  ## benchmarks; figures go to bench/RESULTS.md
	for script in bench/*.py; do uv run python $$script || exit 1; done

clean:
	rm -rf .sdp dbt_project/target dbt_project/logs
