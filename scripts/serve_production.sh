#!/usr/bin/env bash
# Production-like, locally: supervisord (deploy/supervisord.conf) runs gunicorn (WEB_WORKERS
# processes of WEB_THREADS threads) and OUTBOX_WORKERS `flask worker` processes on one database (DATABASE_URL;
# PostgreSQL in production) and restarts any of them that dies. Ctrl-C (or SIGTERM) stops all.
# Needs `pip install -e '.[production]'`.
set -euo pipefail
cd "$(dirname "$0")/.."
export APP_DIR="$PWD"
export BIN="$(cd "${BIN:-.venv/bin}" && pwd)"
export PORT="${PORT:-5000}"
export BIND="${BIND:-127.0.0.1:$PORT}"
export WEB_WORKERS="${WEB_WORKERS:-2}"
export WEB_THREADS="${WEB_THREADS:-4}"
export OUTBOX_WORKERS="${OUTBOX_WORKERS:-2}"
export FLASK_APP=webapp
# supervisord's socket, pid and log files: under the instance folder unless told otherwise.
export SUPERVISOR_DIR="${SUPERVISOR_DIR:-${INSTANCE_PATH:-$APP_DIR/instance}/supervisor}"
mkdir -p "$SUPERVISOR_DIR"

"$BIN/flask" db upgrade
"$BIN/flask" routing check
exec "$BIN/supervisord" -c "$APP_DIR/deploy/supervisord.conf"
