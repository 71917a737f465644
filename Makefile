# The two quick-start commands: `make run` and `make test`. Each builds .venv first.
#   make run [PORT=8501] [ADDRESS=127.0.0.1]   ADDRESS=0.0.0.0 listens on every interface
#   make test   runs `make lint` first, then pytest (.ci/run runs `make test`)
#   make lint   ruff check, ruff format --check, mypy on core/ (settings in pyproject.toml)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8501
ADDRESS ?= 127.0.0.1

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	@echo "Building $(VENV) from pyproject.toml (the first time takes a minute or two)…"
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $(STAMP)

# FORWARDED_ALLOW_IPS empty: the server never rewrites client addresses from X-Forwarded-For
# itself; Modeldesk believes that header only from MODELDESK_TRUSTED_PROXIES.
run: $(STAMP)
	$(BIN)/modeldesk db upgrade
	FORWARDED_ALLOW_IPS= $(BIN)/streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS)

lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy core

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
