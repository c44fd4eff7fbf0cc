#!/usr/bin/env bash
# Start the Rasa NLU server in the background on loopback, wait until the model is loaded, warm it up.
#   scripts/nlu_server.sh start PORT LOGFILE   -> prints the PID
set -euo pipefail
PORT=${2:-5005}
LOG=${3:-/tmp/trainee-rights-nlu-$PORT.log}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Another server on that port would answer in ours' place (with another model): refuse instead.
if curl -fsS -m 2 "http://127.0.0.1:$PORT/status" >/dev/null 2>&1; then
    echo "Port $PORT already has a server (another NLU server, maybe with another model): stop it or use another port" >&2
    exit 1
fi
NLU_PORT=$PORT setsid "$ROOT/nlu/serve.sh" >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$PORT/status" 2>/dev/null | grep -q '"model_file"'; then
        # The first parse is slow (graph warm-up): do it now, not in front of a trainee.
        curl -fsS -X POST "http://127.0.0.1:$PORT/model/parse" -H 'Content-Type: application/json' \
            -d '{"text":"hello warm up"}' >/dev/null || true
        echo "$PID"
        exit 0
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "The NLU server exited; its log ($LOG):" >&2; tail -n 30 "$LOG" >&2; exit 1
    fi
    sleep 1
done
echo "The NLU server did not load its model in 240 s; see $LOG" >&2
kill "$PID" 2>/dev/null || true
exit 1
