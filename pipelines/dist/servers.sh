#!/usr/bin/env bash
# The distributed deployment's servers for local use, on loopback only:
# PostgreSQL (the Dagster instance's storage) and Redis (the Celery broker and result
# backend), both from Debian's packages, each with its data under $DIST_STATE.
#
#   servers.sh install   apt-get install postgresql redis-server (when missing; needs root)
#   servers.sh start     start both (idempotent), create the `dagster` database
#   servers.sh stop      stop both (only the servers this script started: pid files)
#   servers.sh status    exit 0 when both answer
#   servers.sh env       print the environment the workers and runs need (eval it)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STATE="${DIST_STATE:-$ROOT/var/dist}"
PG_PORT="${DIST_PG_PORT:-54329}"
REDIS_PORT="${DIST_REDIS_PORT:-63799}"
HOST=127.0.0.1

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cmd_install() {
  if [ -n "$(pg_bin)" ] && command -v redis-server >/dev/null; then return 0; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql redis-server >/dev/null
}

cmd_start() {
  local bin; bin="$(pg_bin)"
  [ -n "$bin" ] || { echo "PostgreSQL is not installed (servers.sh install)" >&2; return 1; }
  command -v redis-server >/dev/null || { echo "redis-server is not installed (servers.sh install)" >&2; return 1; }
  mkdir -p "$STATE/pg" "$STATE/redis"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$STATE/pg"; chmod 755 "$STATE"; fi
  if [ ! -f "$STATE/pg/data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$STATE/pg/data" -U dagster --auth=trust -E UTF8 --locale=C >"$STATE/pg/initdb.log"
  fi
  if ! as_pg "$bin/pg_ctl" -D "$STATE/pg/data" status >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl" -D "$STATE/pg/data" -l "$STATE/pg/server.log" -w -t 30 \
      -o "-c listen_addresses=$HOST -p $PG_PORT -k $STATE/pg -c max_connections=200" start >/dev/null
  fi
  if ! "$bin/psql" -h "$HOST" -p "$PG_PORT" -U dagster -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='dagster'" | grep -q 1; then
    "$bin/createdb" -h "$HOST" -p "$PG_PORT" -U dagster dagster
  fi
  if ! redis-cli -h "$HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --bind "$HOST" --port "$REDIS_PORT" --daemonize yes --dir "$STATE/redis" \
      --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" --save "" --appendonly no
    for _ in $(seq 50); do redis-cli -h "$HOST" -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  cmd_status
}

cmd_stop() {
  local bin; bin="$(pg_bin)"
  if [ -n "$bin" ] && [ -f "$STATE/pg/data/postmaster.pid" ]; then
    as_pg "$bin/pg_ctl" -D "$STATE/pg/data" -m fast -w stop >/dev/null || true
  fi
  if [ -f "$STATE/redis/redis.pid" ]; then
    redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || kill "$(cat "$STATE/redis/redis.pid")" 2>/dev/null || true
    rm -f "$STATE/redis/redis.pid"
  fi
}

cmd_status() {
  local bin; bin="$(pg_bin)"
  [ -n "$bin" ] && "$bin/pg_isready" -q -h "$HOST" -p "$PG_PORT" && \
    redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
}

cmd_env() {
  echo "export DAGSTER_PG_URL=postgresql+psycopg2://dagster@$HOST:$PG_PORT/dagster"
  echo "export DAGSTER_CELERY_BROKER=redis://$HOST:$REDIS_PORT/0"
  echo "export DAGSTER_CELERY_BACKEND=redis://$HOST:$REDIS_PORT/1"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
