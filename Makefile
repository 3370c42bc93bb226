# Every target bootstraps .venv from pyproject.toml on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
OUT ?= generated
PROTOS := $(wildcard protos/modelregistry/v1/*.proto)

.PHONY: run test generate lint venv bench-search

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,postgres]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(VENV)/bin/registry-service serve

test: $(STAMP)
	$(PY) -m pytest -q

generate: $(STAMP)
	mkdir -p $(OUT)
	$(PY) -m grpc_tools.protoc -I protos --python_out=$(OUT) --pyi_out=$(OUT) \
		--grpc_python_out=$(OUT) $(PROTOS)

lint: $(STAMP)
	$(VENV)/bin/ruff check registry_service tests bench
	$(VENV)/bin/ruff format --check registry_service tests bench
	$(VENV)/bin/mypy
	cd protos && ../$(VENV)/bin/buf lint

# Not part of `make test`: seeds 100k models / 1M versions (cached in bench/.data/) and takes
# minutes. BENCH_ARGS passes options, e.g. BENCH_ARGS="--backend postgres".
bench-search: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)
