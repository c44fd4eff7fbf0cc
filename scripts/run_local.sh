#!/usr/bin/env bash
# Run the whole system locally: the Rasa NLU service on 127.0.0.1:$NLU_PORT and the app on $APP_HOST:$APP_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
NLU_PORT=${NLU_PORT:-5005}
mkdir -p data
echo "Starting the NLU service on http://127.0.0.1:$NLU_PORT (loading the model takes about 30 s)..."
NLU_PID=$(scripts/nlu_server.sh start "$NLU_PORT" data/nlu-server.log)
trap 'kill -- -"$NLU_PID" 2>/dev/null || kill "$NLU_PID" 2>/dev/null || true' EXIT INT TERM
echo "NLU service ready (log: data/nlu-server.log)."
export NLU_URL=${NLU_URL:-http://127.0.0.1:$NLU_PORT}
.venv/bin/python -m api
