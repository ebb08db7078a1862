# Every target creates the virtual environment it needs, so a fresh clone needs only
# Python 3.11+, make and npm.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The runtime alone (make demo), and with the development extras (make test and the rest).
RUNTIME_STAMP := $(VENV)/.runtime
STAMP := $(VENV)/.installed
# setuptools warns that an editable install is editable; nothing to act on.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip
NODE_STAMP := node_modules/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
TEMPLATE := .serverless/cloudformation-template-update-stack.json
FORWARDER_TEMPLATE := deploy/forwarder/.serverless/cloudformation-template-update-stack.json

.PHONY: demo test lint typecheck unit bench clean artifact package cfn-lint checkov

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# checkov lives in its own virtual environment: its pins would fight the project's.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $(CHECKOV_VENV)/.installed

# The demo writes its audit trail to a throwaway file it names, not to the user's own.
demo: $(RUNTIME_STAMP)
	@trail=$$(mktemp -d)/iamwatch-demo-audit.db; \
	echo "make demo: audit trail in $$trail (a throwaway file)"; \
	$(BIN)/iamwatch scan examples/AWSLogs/ --format table --audit "$$trail"
	$(BIN)/iamwatch inventory --credential-report examples/inventory/credential-report.csv \
		--authorization-details examples/inventory/authorization-details.json --format table

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite, packaged-template tests included (plain `pytest` leaves them out, as they
# need npm); `make unit-fast` is the seconds-long loop. Four workers on two cores: many tests
# wait on loopback servers, retry back-offs and timeouts, so two workers leave the cores idle
# (measured: 218 s with -n 2, 174 s with -n 4, 167 s with -n 6).
unit: $(STAMP)
	$(BIN)/pytest -q -n 4 -m 'not slow and not bench'

.PHONY: unit-fast
unit-fast: $(STAMP)
	$(BIN)/pytest -q -m unit

# The benchmarks' peers: DuckDB from PyPI (the bench extra), and Debian's jq when it is missing.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	command -v jq >/dev/null || (apt-get update -qq && apt-get install -y -qq jq)
	touch $(BENCH_STAMP)

# Benchmarks (BENCHMARKS.md): a 1M-record synthetic corpus and its stress mix, cached under
# bench/.corpus/, scanned against the decompression limit, the decompress-plus-parse floor,
# DuckDB and jq; numbers land in bench/results.json. About ten minutes.
bench: $(BENCH_STAMP)
	$(BIN)/pytest -q -m bench
	$(BIN)/python -m bench.run

# The same benchmarks on a small corpus, one repetition: a smoke test for CI (a minute or two).
.PHONY: bench-quick
bench-quick: $(BENCH_STAMP)
	$(BIN)/pytest -q -m bench
	$(BIN)/python -m bench.run --quick --out bench/results-quick.json

# The Lambda artifact (code plus arm64 dependencies) and the CloudFormation template, offline.
artifact: $(STAMP)
	$(BIN)/python deploy/build_artifact.py

package: artifact $(NODE_STAMP)
	SLS_TELEMETRY_DISABLED=1 npx osls package --stage prod
	cd deploy/forwarder && SLS_TELEMETRY_DISABLED=1 npx osls package --stage prod

cfn-lint: package
	$(BIN)/cfn-lint $(TEMPLATE) $(FORWARDER_TEMPLATE)

checkov: package $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yml -f $(TEMPLATE) -f $(FORWARDER_TEMPLATE)

# The inventory's HTML report is tested in Debian's headless Chromium (tests/browser.py);
# installed only when missing, so this is instant once it is there.
.PHONY: chromium
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# Unit and integration tests read the packaged template, so packaging comes first. The checks
# and set-up steps are independent of each other (three virtual environments, npm, Chromium),
# so they run side by side; the tests then have every core.
.PHONY: checks
checks: lint typecheck package cfn-lint checkov chromium

test:
	@$(MAKE) --no-print-directory -j4 --output-sync=target checks
	@$(MAKE) --no-print-directory unit

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules build .serverless deploy/forwarder/.serverless \
		.mypy_cache .pytest_cache .ruff_cache
