#!/usr/bin/env bash
# Celery workers of the distributed deployment: N worker processes (concurrency 1 each)
# on the broker of servers.sh, each a detached `celery worker` with its own pid file.
#
#   workers.sh start [N]   start N workers (default 2)
#   workers.sh stop        stop the workers this script started (their pid files only)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STATE="${DIST_STATE:-$ROOT/var/dist}"
BIN="${VENV_BIN:-$ROOT/.venv/bin}"
eval "$("$ROOT/pipelines/dist/servers.sh" env)"
export DAGSTER_HOME="${DAGSTER_HOME:-$STATE/dagster_home}"
RUN="$STATE/workers"

cmd_start() {
  local n="${1:-2}"
  mkdir -p "$RUN/config" "$DAGSTER_HOME"
  cp "$ROOT/pipelines/dist/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
  # dagster_celery.app reads its broker from a module named dagster_celery_config.
  cat >"$RUN/config/dagster_celery_config.py" <<PY
broker_url = "$DAGSTER_CELERY_BROKER"
result_backend = "$DAGSTER_CELERY_BACKEND"
worker_prefetch_multiplier = 1
PY
  for i in $(seq "$n"); do
    if [ -f "$RUN/w$i.pid" ] && kill -0 "$(cat "$RUN/w$i.pid")" 2>/dev/null; then continue; fi
    PYTHONPATH="$RUN/config${PYTHONPATH:+:$PYTHONPATH}" "$BIN/celery" --workdir "$ROOT" -A dagster_celery.app worker \
      --detach -n "w$i@%h" -Q dagster --concurrency 1 --prefetch-multiplier 1 \
      --loglevel INFO --pidfile "$RUN/w$i.pid" --logfile "$RUN/w$i.log"
  done
  # ready when every worker answers a ping over the broker
  for _ in $(seq 120); do
    local up
    up=$(PYTHONPATH="$RUN/config" "$BIN/celery" -A dagster_celery.app inspect ping --timeout 1 2>/dev/null | grep -c "pong" || true)
    [ "$up" -ge "$n" ] && { echo "$n workers up"; return 0; }
    sleep 1
  done
  echo "workers did not answer; see $RUN/*.log" >&2
  return 1
}

cmd_stop() {
  for pidfile in "$RUN"/w*.pid; do
    [ -f "$pidfile" ] || continue
    local pid; pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

case "${1:-}" in
  start) cmd_start "${2:-2}" ;;
  stop) cmd_stop ;;
  *) echo "usage: $0 start [N] | stop" >&2; exit 2 ;;
esac
