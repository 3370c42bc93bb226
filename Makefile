# Every target bootstraps .venv from pyproject.toml on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
OUT ?= generated
PROTOS := $(wildcard protos/modelregistry/v1/*.proto)
# google/api/annotations.proto comes from the googleapis-common-protos package in the venv, whose
# runtime modules the generated code imports; so its protos are never generated into $(OUT).
GOOGLEAPIS = $(shell $(PY) -c 'import google.api, pathlib; print(pathlib.Path(google.api.__path__[0]).parents[1])')
# buf resolves imports only from buf modules: `make googleapis` copies the googleapis protos that the
# contract and its clients import into protos/buf.yaml's second module (gitignored, never linted).
GOOGLEAPIS_MODULE := protos/third_party/googleapis
GOOGLEAPIS_PROTOS := google/api/annotations.proto google/api/http.proto \
	google/rpc/status.proto google/rpc/error_details.proto
BUF := $(CURDIR)/$(VENV)/bin/buf
# Commit that `buf breaking` compares protos/ with; empty means the previous commit of main.
BUF_AGAINST ?=

.PHONY: run test generate lint venv googleapis docs image bench-search bench bench-soak bench-floors \
	bench-cache bench-watch

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,postgres,bench]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(VENV)/bin/registry-service serve

test: $(STAMP)
	$(PY) -m pytest -q

generate: $(STAMP)
	mkdir -p $(OUT)
	$(PY) -m grpc_tools.protoc -I protos -I $(GOOGLEAPIS) --python_out=$(OUT) --pyi_out=$(OUT) \
		--grpc_python_out=$(OUT) $(PROTOS)

lint: googleapis
	$(VENV)/bin/ruff check registry_service tests docs bench deploy
	$(VENV)/bin/ruff format --check registry_service tests docs bench deploy
	$(VENV)/bin/mypy
	cd protos && $(BUF) lint
	cd protos && $(BUF) format --diff --exit-code --path modelregistry
	BUF=$(BUF) protos/buf-breaking.sh $(BUF_AGAINST)

# docs/api.md from the comments in protos/ (tests/test_api_reference.py fails when it is stale).
docs: $(STAMP)
	$(PY) docs/api_reference.py

# The container image, localhost/registry-service:latest, built by podman with no network from
# wheels downloaded into wheelhouse/ (see deploy/image.py and docs/deploy.md, "The image"). Its
# base is a Debian made by mmdebstrap unless BASE_IMAGE names one to pull.
image: $(STAMP)
	$(PY) deploy/image.py $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE))

googleapis: $(STAMP)
	for proto in $(GOOGLEAPIS_PROTOS); do \
		install -D -m 644 $(GOOGLEAPIS)/$$proto $(GOOGLEAPIS_MODULE)/$$proto || exit 1; \
	done

# Not part of `make test`: seeds 100k models / 1M versions (cached in bench/.data/) and takes
# minutes. BENCH_ARGS passes options, e.g. BENCH_ARGS="--backend postgres".
bench-search: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

# Not part of `make test`: the echo ceiling and the registry on SQLite then PostgreSQL (a scratch
# database, registry_bench_api, dropped and created), seeded fresh, at 1, 16 and 64 clients;
# about 5 minutes. Prints the table and writes bench/.data/bench.json. BENCH_ARGS passes options.
bench: $(STAMP)
	$(PY) -m bench.api $(BENCH_ARGS)

# Not part of `make test`: 5000 WatchEvents streams on one server process (SQLite), their memory,
# commit-to-stream latency, and point reads and writes meanwhile; about 2 minutes. Prints the
# table and writes bench/.data/watch.json. BENCH_ARGS passes options (--postgres-url, --streams).
bench-watch: $(STAMP)
	$(PY) -m bench.watch $(BENCH_ARGS)

# Five minutes of a read/write mix at 16 clients, sampling each server worker's RSS.
bench-soak: $(STAMP)
	$(PY) -m bench.soak $(BENCH_ARGS)

# The least database work per call (a SELECT 1 round trip, the registry's own point read, a
# version's row by its key, a committed one-row INSERT on PostgreSQL and on SQLite) on the echo's
# server, against the echo itself, at 16 clients; three alternated rounds, about 4 minutes, on a
# scratch database, registry_bench_floors (dropped, created and seeded). Writes
# bench/.data/floors.json.
bench-floors: $(STAMP)
	$(PY) -m bench.floors $(BENCH_ARGS)

# RegistryClient.cache (docs/events.md, "A client cache"): resolutions of champion per second
# from memory, and commit-to-cache latency over 80 alias moves at random pauses up to 2.5 s, on
# a fresh SQLite registry (or
# BENCH_ARGS="--postgres-url postgresql://postgres@127.0.0.1:5432/registry_bench_cache"); about
# two minutes. Writes bench/.data/cache.json.
bench-cache: $(STAMP)
	$(PY) -m bench.cache $(BENCH_ARGS)
