#!/usr/bin/env bash
# Start the local services the tests talk to, where installed and not running:
# PostgreSQL (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379).
set -uo pipefail
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done; echo "service on port $1 did not start" >&2; return 1; }

if ! up 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_up 5432
  else
    echo "PostgreSQL is not installed here; the PostgreSQL tests will fail" >&2
  fi
fi
if ! up 6379; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis" >&2
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp --logfile /tmp/htr-redis.log
    wait_up 6379
  else
    echo "Redis is not installed here; the queue tests will fail" >&2
  fi
fi
exit 0
