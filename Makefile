# Pain Gateway — `make run` to start on embedded defaults, `make test` for the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test bench model token clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned to the CPU build in pyproject.toml; installing it first keeps pip from choosing a CUDA wheel.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

# The FHIR integration tests run a real FHIR R4 server (sekmet-fhir) kept in its own venv under var/.
FHIR_SERVER := var/fhir-server/bin/sekmet

$(FHIR_SERVER):
	$(PYTHON) -m venv var/fhir-server
	var/fhir-server/bin/pip install --quiet sekmet-fhir==0.1.1

$(TEST_STAMP): $(STAMP) $(FHIR_SERVER)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(STAMP)
	$(BIN)/pain-gateway db upgrade
	@echo ""
	@echo "Pain Gateway starts on http://127.0.0.1:8000 (SQLite in var/, bundled synthetic-data model)."
	@echo "  Get a token:  $(BIN)/pain-gateway tokens create --name me --role integrator"
	@echo "  API docs:     http://127.0.0.1:8000/schema  (OpenAPI JSON at /schema/openapi.json; send 'Authorization: Bearer <token>')"
	@echo "  Health:       http://127.0.0.1:8000/health"
	@echo ""
	$(BIN)/pain-gateway serve

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run.py

# Synthetic data only (see the README's model section): regenerates the dataset, the bundled STA-LSTM
# checkpoint with its metrics, plots and card, and the plain-LSTM baseline it is compared with (in var/).
MODEL_DATA := var/model/synthetic
MODEL_OUT := plugins/sta_lstm/checkpoints/sta-lstm-synthetic-0.2
model: $(STAMP)
	rm -rf $(MODEL_DATA)
	$(BIN)/pain-gateway synth $(MODEL_DATA) --patients 120 --clips 2 --seconds 8 --seed 0
	$(BIN)/pain-gateway train $(MODEL_DATA) --out $(MODEL_OUT) --model sta-lstm --model-id sta-lstm-synthetic --version 0.2.0 --seed 0
	$(BIN)/pain-gateway evaluate $(MODEL_OUT) $(MODEL_DATA)
	$(BIN)/pain-gateway train $(MODEL_DATA) --out var/model/plain-lstm --model plain-lstm --model-id plain-lstm-synthetic --version 0.2.0 --seed 0
	$(BIN)/pain-gateway evaluate var/model/plain-lstm $(MODEL_DATA)

clean:
	rm -rf $(VENV) var
