#!/usr/bin/env bash
# Restore a dump made by deploy/backup.sh into a database.
#   deploy/restore.sh [--force] DUMP [DATABASE_URL]
# The target URL is the argument, else $DATABASE_URL. The target must exist and be empty (create it first:
# `createdb -O trainee_rights trainee_rights_restored`); a target that has tables is refused unless --force, which
# drops and recreates every object the dump has (other objects stay). Stop every app process first
# (`systemctl stop trainee-rights.target`): nothing may write while a restore runs. One transaction: all or nothing.
set -euo pipefail

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

FORCE=0
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --force) FORCE=1; shift ;;
        -h|--help) usage ;;
        -*) echo "restore.sh: unknown option $1" >&2; usage ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
[ ${#ARGS[@]} -ge 1 ] && [ ${#ARGS[@]} -le 2 ] || usage
DUMP=${ARGS[0]}
URL=${ARGS[1]:-${DATABASE_URL:-}}
[ -n "$URL" ] || { echo "restore.sh: give a database URL or set DATABASE_URL" >&2; exit 2; }
[ -r "$DUMP" ] || { echo "restore.sh: cannot read $DUMP" >&2; exit 2; }
URL=${URL/#postgresql+psycopg:\/\//postgresql://}
URL=${URL/#postgres:\/\//postgresql://}

pg_restore --list "$DUMP" >/dev/null || { echo "restore.sh: $DUMP is not a pg_dump custom-format file" >&2; exit 2; }

TABLES=$(psql --no-psqlrc -X -At -d "$URL" -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'")
if [ "$TABLES" != 0 ]; then
    if [ "$FORCE" != 1 ]; then
        echo "restore.sh: the target database is not empty ($TABLES tables, sequences or views): refusing." >&2
        echo "Restore into a new database, or add --force to replace the objects in the dump." >&2
        exit 1
    fi
    CLEAN=(--clean --if-exists)
else
    CLEAN=()
fi

# --no-owner / --no-privileges: the objects belong to whoever restores (the app's role), whatever role made the dump.
pg_restore --exit-on-error --single-transaction --no-owner --no-privileges "${CLEAN[@]}" --dbname="$URL" "$DUMP"
psql --no-psqlrc -X -q -d "$URL" -c 'ANALYZE' >/dev/null  # planner statistics are not in a dump
echo "Restored $DUMP"
