#!/usr/bin/env bash
# Production-like, locally: gunicorn (WEB_WORKERS processes) plus OUTBOX_WORKERS `flask worker`
# processes on one database (DATABASE_URL; PostgreSQL in production). Ctrl-C stops them all.
set -euo pipefail
BIN="${BIN:-.venv/bin}"
PORT="${PORT:-5000}"
WEB_WORKERS="${WEB_WORKERS:-2}"
OUTBOX_WORKERS="${OUTBOX_WORKERS:-2}"
export FLASK_APP=webapp

"$BIN/flask" db upgrade
"$BIN/flask" routing check
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait' EXIT INT TERM
for _ in $(seq 1 "$OUTBOX_WORKERS"); do
  "$BIN/flask" worker &
  pids+=($!)
done
"$BIN/gunicorn" --workers "$WEB_WORKERS" --bind "127.0.0.1:$PORT" 'webapp:create_app()' &
pids+=($!)
wait -n
