#!/usr/bin/env bash
# The whole test suite: SQLite and a real PostgreSQL server, the real trained model behind the real
# Rasa server, then the NLU evaluation on the held-out test set (fails under the thresholds).
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false
if [ -z "${TEST_POSTGRES_URL:-}" ]; then
    TEST_POSTGRES_URL=$(scripts/test_postgres.sh start)
    export TEST_POSTGRES_URL
fi
echo "PostgreSQL for tests: $TEST_POSTGRES_URL"
NLU_TEST_PORT=${NLU_TEST_PORT:-5055}
NLU_PID=$(scripts/nlu_server.sh start "$NLU_TEST_PORT" /tmp/trainee-rights-nlu-test.log)
trap 'kill -- -"$NLU_PID" 2>/dev/null || kill "$NLU_PID" 2>/dev/null || true' EXIT
export TEST_NLU_URL="http://127.0.0.1:$NLU_TEST_PORT"
echo "NLU server for tests: $TEST_NLU_URL"
scripts/ensure_chromium.sh   # Debian's chromium for the browser tests (tests/e2e)
scripts/ensure_nginx.sh      # Debian's nginx for the scale-out tests (tests/scale)
scripts/ensure_tesseract.sh  # Debian's tesseract (Japanese) and Noto CJK fonts for the payslip reader (tests/payslip)
status=0
echo "== NLU components (tokenizer), in the NLU environment =="
(cd nlu && RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python -m pytest -q -p no:cacheprovider tests) || status=$?
echo "== App test suite =="
.venv/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
echo "== NLU evaluation on the held-out test set =="
.venv/bin/python -m scripts.nlu_eval --url "$TEST_NLU_URL" --min-accuracy 0.90 --min-emergency-recall 1.0 || status=$?
exit $status
