#!/usr/bin/env bash
# Serve the current NLU model with Rasa's own HTTP server on loopback.
set -euo pipefail
cd "$(dirname "$0")"
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH=.
MODEL=${NLU_MODEL:-models/$(cat models/CURRENT)}
exec .venv/bin/rasa run --enable-api --model "$MODEL" --interface 127.0.0.1 --port "${NLU_PORT:-5005}" --quiet
