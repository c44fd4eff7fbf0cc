#!/usr/bin/env bash
# Back up the database: a pg_dump custom-format file named <database>-<UTC time>.dump, keeping the newest K.
#   deploy/backup.sh [--dir DIR] [--keep K] [DATABASE_URL]
# The URL is the argument, else $DATABASE_URL (the app's: postgresql://… or postgresql+psycopg://…).
# DIR: $BACKUP_DIR or /var/lib/trainee-rights/backups; K: $BACKUP_KEEP or 14. Nothing needs stopping: pg_dump
# reads one consistent snapshot while the app keeps running. Prints the path of the new dump.
# A password is best kept out of the URL (it shows in `ps`): use ~/.pgpass or a local socket with peer auth.
set -euo pipefail

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

DIR=${BACKUP_DIR:-/var/lib/trainee-rights/backups}
KEEP=${BACKUP_KEEP:-14}
URL=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) DIR=${2:?--dir needs a directory}; shift 2 ;;
        --keep) KEEP=${2:?--keep needs a number}; shift 2 ;;
        -h|--help) usage ;;
        -*) echo "backup.sh: unknown option $1" >&2; usage ;;
        *) [ -z "$URL" ] || usage; URL=$1; shift ;;
    esac
done
URL=${URL:-${DATABASE_URL:-}}
[ -n "$URL" ] || { echo "backup.sh: give a database URL or set DATABASE_URL" >&2; exit 2; }
[[ "$KEEP" =~ ^[1-9][0-9]*$ ]] || { echo "backup.sh: --keep must be a whole number of 1 or more" >&2; exit 2; }
# libpq does not know SQLAlchemy's driver suffix.
URL=${URL/#postgresql+psycopg:\/\//postgresql://}
URL=${URL/#postgres:\/\//postgresql://}
case "$URL" in
    postgresql://*|postgres://*) ;;
    *) echo "backup.sh: not a PostgreSQL URL (SQLite: copy the file while the app is stopped)" >&2; exit 2 ;;
esac

umask 077  # the dump holds trainees' messages
mkdir -p "$DIR"
NAME=$(psql --no-psqlrc -X -At -d "$URL" -c 'SELECT current_database()')
[[ "$NAME" =~ ^[A-Za-z0-9_.-]+$ ]] || NAME=database
STAMP=$(date -u +%Y-%m-%dT%H%M%S.%3NZ)
FILE="$DIR/$NAME-$STAMP.dump"
PARTIAL="$FILE.partial"
trap 'rm -f "$PARTIAL"' EXIT
pg_dump --format=custom --compress=6 --file="$PARTIAL" --dbname="$URL"
pg_restore --list "$PARTIAL" >/dev/null  # readable, or this is no backup
mv "$PARTIAL" "$FILE"
trap - EXIT

# Keep the newest K dumps of this database (names sort by time); a failed run above never gets here.
mapfile -t DUMPS < <(find "$DIR" -maxdepth 1 -type f -name "$NAME-????-??-??T??????.???Z.dump" -printf '%f\n' | LC_ALL=C sort)
EXTRA=$(( ${#DUMPS[@]} - KEEP ))
for (( i = 0; i < EXTRA; i++ )); do
    rm -f -- "$DIR/${DUMPS[i]}"
done
echo "$FILE"
