#!/usr/bin/env bash
# Start what the integration tests need when it is not already up:
# PostgreSQL (127.0.0.1:5432, database `test`), Redis (127.0.0.1:6379), and
# Stoplight Prism (a spec-validating OpenAI mock, from npm into .tools/).
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432; then
  echo "starting PostgreSQL"
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null 2>&1 || echo "could not install PostgreSQL"
  fi
  version=$(ls /etc/postgresql 2>/dev/null | head -n1)
  [ -n "$version" ] && pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 50); do port_open 5432 && break; sleep 0.2; done
  psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='test'" 2>/dev/null | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null 2>&1 || true
fi

if ! port_open 6379; then
  echo "starting Redis"
  if ! command -v redis-server >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null 2>&1 || echo "could not install Redis"
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null 2>&1 || true
  for _ in $(seq 50); do port_open 6379 && break; sleep 0.2; done
fi

# the cluster test (tests/integration/cluster) starts a private redis-server it may SIGSTOP
if ! command -v redis-server >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null 2>&1 || echo "could not install redis-server"
fi

if [ ! -x .tools/node_modules/.bin/prism ] && command -v npm >/dev/null 2>&1; then
  echo "installing Stoplight Prism into .tools/"
  npm install --silent --no-audit --no-fund --prefix .tools @stoplight/prism-cli@5.14.2 >/dev/null 2>&1 \
    || echo "could not install Prism"
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "installing Chromium (renders the audit HTML report in a test)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "could not install Chromium"
fi

exit 0
