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
# buf resolves imports only from buf modules: a gitignored copy that protos/buf.yaml never lints.
THIRD_PARTY := protos/third_party/google/api

.PHONY: run test generate lint venv

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
	$(PY) -m grpc_tools.protoc -I protos -I $(GOOGLEAPIS) --python_out=$(OUT) --pyi_out=$(OUT) \
		--grpc_python_out=$(OUT) $(PROTOS)

lint: $(STAMP)
	$(VENV)/bin/ruff check registry_service tests
	$(VENV)/bin/ruff format --check registry_service tests
	$(VENV)/bin/mypy
	mkdir -p $(THIRD_PARTY)
	cp $(GOOGLEAPIS)/google/api/annotations.proto $(GOOGLEAPIS)/google/api/http.proto $(THIRD_PARTY)
	cd protos && ../$(VENV)/bin/buf lint
