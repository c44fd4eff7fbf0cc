# Two commands matter: `make run` (the whole system locally) and `make test` (the whole test suite).
# Everything else here is what they need, installed on first use.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
NLU_VENV  := nlu/.venv
PY        := $(VENV)/bin/python
APP_HOST  ?= 127.0.0.1
APP_PORT  ?= 8000
NLU_PORT  ?= 5005
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export APP_HOST APP_PORT NLU_PORT

.PHONY: help run test scale deps app-deps nlu-deps locales migrate seed nlu nlu-serve nlu-eval nlu-compare bench clean

help:
	@echo "make run    set everything up (first time) and run NLU service + app on http://$(APP_HOST):$(APP_PORT)/"
	@echo "make test   set everything up (first time) and run the whole test suite (SQLite, PostgreSQL, Rasa)"
	@echo "make nlu    train the NLU model if its inputs changed"
	@echo "make scale  nginx on 127.0.0.1:8080 in front of 2 app processes and 2 Rasa servers on one PostgreSQL"

$(VENV)/.installed: pyproject.toml
	@PY311=$$(scripts/find_python311.sh) && { [ -x $(PY) ] || $$PY311 -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

$(NLU_VENV)/.installed: nlu/requirements.txt
	@PY310=$$(scripts/find_python310.sh) && { [ -x $(NLU_VENV)/bin/python ] || $$PY310 -m venv $(NLU_VENV); }
	$(NLU_VENV)/bin/python -m pip install -q --upgrade pip wheel
	$(NLU_VENV)/bin/python -m pip install -q -r nlu/requirements.txt
	@touch $@

app-deps: $(VENV)/.installed
nlu-deps: $(NLU_VENV)/.installed
deps: app-deps nlu-deps

# Compiled catalogs (.mo) are build output, made from the .po files.
locales: app-deps
	@out=$$($(VENV)/bin/pybabel compile -d locales -D messages 2>&1) || { echo "$$out"; exit 1; }

migrate: app-deps
	$(VENV)/bin/alembic upgrade head
	$(PY) -m knowledge.loader

seed: migrate

# Train only when the NLU inputs changed (the model is named by their hash).
nlu: nlu-deps app-deps
	@$(PY) -m scripts.nlu_data
	@nlu/train.sh

nlu-serve: nlu
	@nlu/serve.sh

nlu-eval: nlu
	@PID=$$(scripts/nlu_server.sh start 5059 /tmp/trainee-rights-nlu-eval.log) && \
	  trap 'kill -- -'$$PID' 2>/dev/null || true' EXIT && \
	  $(PY) -m scripts.nlu_eval --url http://127.0.0.1:5059 --min-accuracy 0.90 --min-emergency-recall 1.0 \
	    --history nlu/models/evaluations.jsonl --model $$(cat nlu/models/CURRENT)

# Reproduce the pipeline comparison of nlu/README.md: train the DIET pipeline too and evaluate both.
nlu-compare: nlu
	@NLU_CONFIG=config/config_diet.yml nlu/train.sh
	@for cfg in config config_diet; do \
	  echo "== $$cfg =="; \
	  PID=$$(NLU_MODEL=models/$$(cat nlu/models/CURRENT-$$cfg) scripts/nlu_server.sh start 5059 /tmp/trainee-rights-nlu-$$cfg.log) || exit 1; \
	  $(PY) -m scripts.nlu_eval --url http://127.0.0.1:5059; kill -- -$$PID 2>/dev/null; sleep 2; \
	done

run: deps locales migrate nlu
	@scripts/ensure_tesseract.sh
	@scripts/run_local.sh

test: deps locales nlu
	@scripts/run_tests.sh

# The scaled-out layout on loopback (scripts/scale.py), until Ctrl-C.
scale: deps locales nlu
	@scripts/ensure_nginx.sh
	@scripts/ensure_tesseract.sh
	@$(PY) -m scripts.scale

bench: deps locales nlu
	@$(PY) bench/nlu_bench.py; $(PY) bench/langdetect_eval.py; $(PY) bench/emergency_bench.py; $(PY) bench/handoff_bench.py; $(PY) bench/e2e_bench.py

clean:
	rm -rf $(VENV) $(NLU_VENV) nlu/models data
