#!/usr/bin/env bash
# Try a multi-replica laneway on one machine: N `laneway serve` replicas sharing one
# Redis (state) and one PostgreSQL (audit log), behind nginx. docs/deploy.md explains it.
#
#   deploy/local-cluster.sh start [N]   start N replicas (default 3), Redis, PostgreSQL, nginx
#   deploy/local-cluster.sh status      what runs, and /readyz of every replica
#   deploy/local-cluster.sh stop        stop what `start` started, by the PIDs it recorded
#
# Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) already running are used as
# they are and never stopped; missing ones are started here (PostgreSQL in a private
# data directory) and stopped by `stop`. nginx is installed with apt-get when missing.
# Settings (environment): LANEWAY_CLUSTER_DIR (./.laneway-cluster), LANEWAY_CONFIG (else a
# demo config on the local echo model is written), LANEWAY_CLUSTER_PORT (8080, nginx),
# LANEWAY_CLUSTER_FIRST_PORT (8081, replicas take the ports from it),
# LANEWAY_CLUSTER_REDIS_URL (redis://127.0.0.1:6379/0),
# LANEWAY_CLUSTER_POSTGRES_URL (postgresql://postgres@127.0.0.1:5432/laneway).
set -euo pipefail

DIR=${LANEWAY_CLUSTER_DIR:-$PWD/.laneway-cluster}
PORT=${LANEWAY_CLUSTER_PORT:-8080}
FIRST_PORT=${LANEWAY_CLUSTER_FIRST_PORT:-8081}
REDIS_URL=${LANEWAY_CLUSTER_REDIS_URL:-redis://127.0.0.1:6379/0}
POSTGRES_URL=${LANEWAY_CLUSTER_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/laneway}
LANEWAY=${LANEWAY_BIN:-$(command -v laneway || echo "$(dirname "$0")/../.venv/bin/laneway")}

say() { printf '%s\n' "$*"; }
die() { printf 'local-cluster: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 100); do port_open "$1" && return 0; sleep 0.1; done; return 1; }
record() { echo "$2" >"$DIR/pids/$1.pid"; }

start_redis() {
  if port_open 6379; then say "redis: using the one on 127.0.0.1:6379"; return; fi
  command -v redis-server >/dev/null || die "no Redis on 6379 and no redis-server (apt-get install redis-server)"
  redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" \
    >"$DIR/logs/redis.log" 2>&1 &
  record redis $!
  wait_port 6379 || die "redis-server did not start (see $DIR/logs/redis.log)"
  say "redis: started, pid $(cat "$DIR/pids/redis.pid")"
}

start_postgres() {
  if port_open 5432; then
    say "postgresql: using the one on 127.0.0.1:5432"
  else
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    [ -n "$bin" ] || die "no PostgreSQL on 5432 and none installed (apt-get install postgresql)"
    if [ ! -d "$DIR/pgdata" ]; then
      "$bin/initdb" -D "$DIR/pgdata" -U postgres --auth=trust >"$DIR/logs/initdb.log" 2>&1 \
        || die "initdb failed (see $DIR/logs/initdb.log; as root, run this script as another user)"
    fi
    "$bin/postgres" -D "$DIR/pgdata" -p 5432 -k "$DIR" -c listen_addresses=127.0.0.1 \
      >"$DIR/logs/postgres.log" 2>&1 &
    record postgres $!
    wait_port 5432 || die "postgres did not start (see $DIR/logs/postgres.log)"
    say "postgresql: started, pid $(cat "$DIR/pids/postgres.pid")"
  fi
  local db=${POSTGRES_URL##*/}; db=${db%%\?*}
  psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE \"$db\"" \
    || die "could not create database $db"
}

write_config() {
  if [ -n "${LANEWAY_CONFIG:-}" ]; then CONFIG=$LANEWAY_CONFIG; return; fi
  CONFIG=$DIR/laneway.yaml
  if [ ! -f "$DIR/keys.env" ]; then
    (umask 077; {
      echo "LANEWAY_CLIENT_KEY=sk-demo-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      echo "LANEWAY_ADMIN_KEY=sk-admin-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } >"$DIR/keys.env")
  fi
  cat >"$CONFIG" <<YAML
# written by deploy/local-cluster.sh: every replica reads this same file
providers:
  local: {kind: local}
lanes:
  chat: {primary: local/echo}
server:
  admin_key: "\${LANEWAY_ADMIN_KEY}"
  keys:
    - {key: "\${LANEWAY_CLIENT_KEY}", name: demo, rpm: 60, concurrent: 4, budget_usd: 5, per: day}
audit: {url: "$POSTGRES_URL?schema=laneway_audit"}
state: {url: "$REDIS_URL"}
YAML
}

start_replicas() {
  local n=$1 i port
  set -a; [ -f "$DIR/keys.env" ] && . "$DIR/keys.env"; set +a
  for i in $(seq 0 $((n - 1))); do
    port=$((FIRST_PORT + i))
    port_open "$port" && die "port $port is taken (set LANEWAY_CLUSTER_FIRST_PORT)"
    "$LANEWAY" serve --config "$CONFIG" --host 127.0.0.1 --port "$port" \
      >"$DIR/logs/replica-$i.log" 2>&1 &
    record "replica-$i" $!
  done
  for i in $(seq 0 $((n - 1))); do
    port=$((FIRST_PORT + i))
    for _ in $(seq 300); do
      curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      kill -0 "$(cat "$DIR/pids/replica-$i.pid")" 2>/dev/null \
        || die "replica $i exited (see $DIR/logs/replica-$i.log)"
      sleep 0.1
    done
    say "replica $i: http://127.0.0.1:$port, pid $(cat "$DIR/pids/replica-$i.pid")"
  done
}

start_nginx() {
  local n=$1 i
  if ! command -v nginx >/dev/null; then
    say "nginx: installing with apt-get"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx) >/dev/null \
      || die "could not install nginx"
  fi
  mkdir -p "$DIR/nginx"
  {
    echo "pid $DIR/nginx/nginx.pid;"
    echo "error_log $DIR/logs/nginx-error.log;"
    echo "daemon off;"
    echo "events { worker_connections 1024; }"
    echo "http {"
    echo "  access_log $DIR/logs/nginx-access.log;"
    echo "  client_body_temp_path $DIR/nginx; proxy_temp_path $DIR/nginx;"
    echo "  fastcgi_temp_path $DIR/nginx; uwsgi_temp_path $DIR/nginx; scgi_temp_path $DIR/nginx;"
    echo "  upstream laneway {"
    echo "    least_conn;"
    for i in $(seq 0 $((n - 1))); do echo "    server 127.0.0.1:$((FIRST_PORT + i)) max_fails=0;"; done
    echo "    keepalive 64;"
    echo "  }"
    echo "  server {"
    echo "    listen 127.0.0.1:$PORT;"
    echo "    client_max_body_size 4m;"
    echo "    location / {"
    echo "      proxy_pass http://laneway;"
    echo "      proxy_http_version 1.1;"
    echo "      proxy_set_header Connection \"\";"
    echo "      proxy_buffering off;            # streamed answers go out as they come"
    echo "      proxy_read_timeout 300s;"
    echo "      proxy_next_upstream error timeout;  # never a POST that reached a replica"
    echo "    }"
    echo "  }"
    echo "}"
  } >"$DIR/nginx/nginx.conf"
  nginx -p "$DIR/nginx" -c "$DIR/nginx/nginx.conf" >"$DIR/logs/nginx.log" 2>&1 &
  record nginx $!
  wait_port "$PORT" || die "nginx did not start (see $DIR/logs/nginx-error.log)"
  say "nginx: http://127.0.0.1:$PORT -> $n replicas, pid $(cat "$DIR/pids/nginx.pid")"
}

stop_all() {
  [ -d "$DIR/pids" ] || { say "nothing started from $DIR"; return; }
  local name pidfile pid
  # the load balancer first, the stores last: in-flight requests finish and are audited
  for name in nginx $(cd "$DIR/pids" && ls replica-*.pid 2>/dev/null | sed 's/\.pid$//') postgres redis; do
    pidfile=$DIR/pids/$name.pid
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && { say "$name: pid $pid ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid"; }
      say "$name: stopped (pid $pid)"
    fi
    rm -f "$pidfile"
  done
}

status() {
  [ -d "$DIR/pids" ] || { say "nothing started from $DIR"; return; }
  local pidfile name pid port
  for pidfile in "$DIR"/pids/*.pid; do
    [ -f "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid); pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then state=running; else state=gone; fi
    case $name in
      replica-*)
        port=$((FIRST_PORT + ${name#replica-}))
        say "$name pid $pid $state: $(curl -s "http://127.0.0.1:$port/readyz" || echo unreachable)" ;;
      *) say "$name pid $pid $state" ;;
    esac
  done
}

case ${1:-} in
  start)
    n=${2:-3}
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "start N: N must be a number of replicas, got '$n'"
    [ -x "$LANEWAY" ] || die "no laneway command (pip install -e . or set LANEWAY_BIN)"
    [ -d "$DIR/pids" ] && ls "$DIR"/pids/*.pid >/dev/null 2>&1 && die "already started from $DIR: run stop first"
    mkdir -p "$DIR/pids" "$DIR/logs"
    start_redis
    start_postgres
    write_config
    start_replicas "$n"
    start_nginx "$n"
    say "keys: $DIR/keys.env; try:"
    say "  . $DIR/keys.env && curl -s http://127.0.0.1:$PORT/v1/chat/completions -H \"Authorization: Bearer \$LANEWAY_CLIENT_KEY\" -H 'content-type: application/json' -d '{\"model\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'"
    say "stop with: $0 stop"
    ;;
  stop) stop_all ;;
  status) status ;;
  *) die "usage: $0 start [N] | status | stop" ;;
esac
