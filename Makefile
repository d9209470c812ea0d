# Pain Gateway — `make run` to start on embedded defaults, `make test` for the whole suite.
# Any Python the project allows (pyproject.toml: >=3.11,<3.13): the newest that runs (a pyenv shim of a version not
# selected is found but does not run), or name one: PYTHON=python3.12 make run
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(shell for p in python3.12 python3.11; do $$p -c 'import sys' >/dev/null 2>&1 && { echo $$p; break; }; done),python3)
endif
# torch's CPU build on Linux, as the Dockerfile installs it (the default index gives Linux the CUDA build, several GB
# of GPU libraries); elsewhere the platform's default wheel (macOS and Windows wheels are CPU builds already).
TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s)),--index-url https://download.pytorch.org/whl/cpu,)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test bench mutation model token clean mediapipe docs probe

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))' 2>/dev/null || \
		{ echo "PYTHON=$(PYTHON) is not Python 3.11 or 3.12; name one, e.g. PYTHON=python3.12 make run" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, from TORCH_INDEX, so installing the project finds it satisfied and never pulls a CUDA wheel.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0 $(TORCH_INDEX)
	$(BIN)/pip install --quiet -e .
	touch $@

# The FHIR integration tests run a real FHIR R4 server (sekmet-fhir) kept in its own venv under var/.
FHIR_SERVER := var/fhir-server/bin/sekmet

$(FHIR_SERVER):
	$(PYTHON) -m venv var/fhir-server
	var/fhir-server/bin/pip install --quiet sekmet-fhir==0.1.1

# The live page's Face Mesh files (npm @mediapipe/face_mesh, pinned with its sha512): fetched once, never from a CDN at run time.
MEDIAPIPE := gateway/web/ui/static/mediapipe/face_mesh.js

$(MEDIAPIPE): gateway/web/ui/face_mesh_assets.py
	$(PYTHON) gateway/web/ui/face_mesh_assets.py
	touch $@

mediapipe: $(MEDIAPIPE)

$(TEST_STAMP): $(STAMP) $(FHIR_SERVER)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# serve prints the hints (a token command, the docs, health) with the address it really serves on
run: $(STAMP) $(MEDIAPIPE)
	$(BIN)/pain-gateway db upgrade
	$(BIN)/pain-gateway serve

# one worker per CPU, at most 4 (each loads the model and may start servers and a browser); worksteal balances
# the few long tests. `.venv/bin/python -m pytest tests/...` runs a file or two in one process.
test: $(TEST_STAMP) $(MEDIAPIPE)
	$(BIN)/python -m pytest -n auto --maxprocesses 4 --dist worksteal

# The documentation site (mkdocs.yml, docs/) on http://127.0.0.1:8000; the configuration and hook references are
# generated from the code at build time (docs/hooks/generate.py). tests/unit/test_docs_site.py builds it with --strict.
docs: $(TEST_STAMP)
	$(BIN)/python -m mkdocs serve

# schemathesis against a real `pain-gateway serve`: every check, all phases (stateful included), 100 examples per
# operation, at most 10 minutes; fails on a 5xx, a response that breaks the OpenAPI document, or a request-side
# mismatch not accepted in scripts/probe-baseline.json. tests/integration/test_probe.py runs a short version in the suite.
probe: $(TEST_STAMP)
	$(BIN)/python scripts/probe.py

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run.py

# Mutation testing of the core modules (not part of `make test`): mutmut mutates gateway/storage/jobs.py,
# auth, scoring, summary, landmarks, uploads and quality ([tool.mutmut] in pyproject.toml) and runs, for
# each mutant, only the fast unit tests that reach the mutated function. Prints killed / total at the end.
mutation: $(TEST_STAMP)
	rm -rf mutants
	CI=true $(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut export-cicd-stats
	$(BIN)/python scripts/mutation_score.py mutants/mutmut-cicd-stats.json

# Synthetic data only (see docs/model/training.md): regenerates the dataset, the bundled STA-LSTM
# checkpoint with its metrics, attention sanity checks, real-face dose-response, the held-out real people,
# the real-calibration study, the clip rules, the typicality reference (off-distribution), the frame rates, plots
# and card, and the plain-LSTM baseline it is compared
# with (in var/). One thread, so the weights do not depend on the machine's core count. Last, the seed
# study repeats both trainings over seeds 0-2 (about 10 minutes) and adds the table docs/model/evidence.md
# quotes to the card.
MODEL_DATA := var/model/synthetic
MODEL_OUT := plugins/sta_lstm/checkpoints/sta-lstm-synthetic-0.5
MODEL_TRAIN := --personalised --without-baseline 0.5 --version 0.5.1 --seed 0 --threads 1
model: $(STAMP)
	rm -rf $(MODEL_DATA) $(MODEL_OUT) var/model/plain-lstm
	$(BIN)/pain-gateway synth $(MODEL_DATA) --patients 240 --clips 2 --seconds 8 --seed 0
	$(BIN)/pain-gateway train $(MODEL_DATA) --out $(MODEL_OUT) --model sta-lstm --model-id sta-lstm-synthetic $(MODEL_TRAIN)
	$(BIN)/pain-gateway evaluate $(MODEL_OUT) $(MODEL_DATA)
	$(BIN)/pain-gateway attention-check $(MODEL_OUT) $(MODEL_DATA)
	$(BIN)/pain-gateway real-faces $(MODEL_OUT)
	$(BIN)/pain-gateway real-identities $(MODEL_OUT)
	$(BIN)/pain-gateway clip-rules $(MODEL_OUT)
	$(BIN)/pain-gateway real-calibration $(MODEL_OUT)
	$(BIN)/pain-gateway typicality $(MODEL_OUT)
	$(BIN)/pain-gateway frame-rates $(MODEL_OUT) $(MODEL_DATA)
	$(BIN)/pain-gateway train $(MODEL_DATA) --out var/model/plain-lstm --model plain-lstm --model-id plain-lstm-synthetic $(MODEL_TRAIN)
	$(BIN)/pain-gateway evaluate var/model/plain-lstm $(MODEL_DATA)
	$(BIN)/pain-gateway attention-check var/model/plain-lstm $(MODEL_DATA)
	$(BIN)/pain-gateway real-faces var/model/plain-lstm
	$(BIN)/pain-gateway acceptance $(MODEL_DATA) --seeds 0,1,2 --threads 1 --checkpoint $(MODEL_OUT)

clean:
	rm -rf $(VENV) var
