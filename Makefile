# The project's interface: `make run` and `make test` work from a fresh clone with only
# Python 3.11+ and make. The virtual environment is built from the lock file when missing
# or older than it, and left untouched when current.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock

.PHONY: run test lint format typecheck services schema lock clean bench bench-cache bench-cost bench-events

$(STAMP): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	@touch $(STAMP)

# GraphiQL's pinned npm files, fetched into the environment and checked against their sha512
# (graphiql/assets.py; the stamp is the one it writes). Gone with $(VENV), so `make clean`
# removes them too and a rebuilt environment fetches them again.
ASSETS_STAMP := $(VENV)/share/taskql-graphiql/.stamp

$(ASSETS_STAMP): $(STAMP) graphiql/assets.lock.json
	$(BIN)/python -m graphiql.assets fetch
	@touch $(ASSETS_STAMP)

run: $(STAMP) $(ASSETS_STAMP)
	$(BIN)/python server.py serve

services: $(STAMP)
	$(BIN)/python server.py services

test: $(STAMP) $(ASSETS_STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

# taskql side by side with a raw Starlette ceiling, a naive Strawberry server, GraphQL Yoga and
# Mercurius, wrk and the servers pinned to one core each; about 15 minutes, BENCH_ARGS=--quick
# about 2 (installs wrk and the Node peers' packages when missing; `bench/harness.py --help`).
bench: $(STAMP) $(ASSETS_STAMP)
	$(BIN)/python bench/harness.py $(BENCH_ARGS)

# What the Redis object cache is worth, in about two minutes: the harness's cache scenarios
# (bench/cache.py) on taskql and taskql-nocache: one request's MongoDB commands and cache
# lookups, req/s warm vs. cold vs. cache disabled (BENCH_ARGS="--repeats 5" overrides any option).
bench-cache: $(STAMP) $(ASSETS_STAMP)
	$(BIN)/python bench/harness.py --candidates taskql,taskql-nocache \
		--scenarios cache-read,cache-cold --users 21 --tasks-per-user 200 --connections 10 \
		--warmup 1 --duration 5 --repeats 3 --output bench/results/cache.md $(BENCH_ARGS)

# What query-cost pricing adds to one operation, in under a minute: microseconds for pricing,
# the budget in Redis, schema.execute (BENCH_ARGS="--repeats 9"; `bench/pricing.py --help`).
bench-cost: $(STAMP)
	$(BIN)/python bench/pricing.py $(BENCH_ARGS)

# Task events to 1,000 subscribers of one user on two instances, in about 1.5 minutes: delivery
# latency p50/p99, events/s, memory per idle subscriber (BENCH_ARGS="--subscribers 200"; --help).
bench-events: $(STAMP)
	$(BIN)/python bench/subscriptions.py $(BENCH_ARGS)

# Rewrites schema.graphql from the code (a test fails while the two differ).
schema: $(STAMP)
	$(BIN)/python server.py schema --output schema.graphql

# Regenerates the lock files from pyproject.toml's ranges (needs network access to PyPI).
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--no-header --index-url https://pypi.org/simple -o requirements.lock
	@# The image's lock: the runtime dependencies alone, at exactly the versions above.
	grep -v '^ *--hash\|^ *#\|^$$' requirements.lock | sed 's/ \\$$//' > $(VENV)/lock-constraints.txt
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 --no-header \
		--no-annotate --index-url https://pypi.org/simple -c $(VENV)/lock-constraints.txt \
		-o requirements.runtime.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
