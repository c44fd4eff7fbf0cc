#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for the tests and print its URL.
# Installs Debian's postgresql package when no server binaries are present.
#   scripts/test_postgres.sh start   -> prints postgresql://... on stdout
#   scripts/test_postgres.sh stop
set -euo pipefail
PORT=${TEST_PG_PORT:-55432}
DIR=${TEST_PG_DIR:-/tmp/trainee-rights-pg-$PORT}
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
BIN=$(find_bin || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
    echo "Installing PostgreSQL (Debian package)..." >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
    BIN=$(find_bin)
fi
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "${1:-start}" in
start)
    if [ ! -f "$DIR/PG_VERSION" ]; then
        mkdir -p "$DIR"
        [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
        as_pg "$BIN/initdb" -D "$DIR" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! as_pg "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
        as_pg "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
            -o "-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c fsync=off -c max_connections=200" start >/dev/null
    fi
    as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='trainee_test'" | grep -q 1 \
        || as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres trainee_test
    echo "postgresql://postgres@127.0.0.1:$PORT/trainee_test"
    ;;
stop)
    as_pg "$BIN/pg_ctl" -D "$DIR" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
