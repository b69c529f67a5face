#!/usr/bin/env bash
# Make sure the tests have a real Redis and PostgreSQL (and Chromium for the console tests).
# Uses HAVEN_TEST_REDIS_URL / HAVEN_TEST_DATABASE_URL, or the local default ports. Where a service
# does not answer, install Debian's package when running as root; otherwise say what to install.
set -euo pipefail

REDIS_URL="${HAVEN_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
DATABASE_URL="${HAVEN_TEST_DATABASE_URL:-postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres}"

host_port() {  # URL -> "host port"
  python3 - "$1" "$2" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or int(sys.argv[2]))
PY
}

answers() {  # host port -> 0 when something listens there
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

apt_updated=""
apt_install() {
  if [ "$(id -u)" != "0" ]; then
    echo "error: $1 is not reachable and this is not root. Install and start it: apt-get install $2" >&2
    exit 1
  fi
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $2 >/dev/null
}

wait_for() {  # host port name
  for _ in $(seq 1 60); do
    answers "$1" "$2" && return 0
    sleep 0.5
  done
  echo "error: $3 did not come up on $1:$2" >&2
  exit 1
}

read -r rhost rport < <(host_port "$REDIS_URL" 6379)
if ! answers "$rhost" "$rport"; then
  echo "Redis is not answering on $rhost:$rport; starting it" >&2
  command -v redis-server >/dev/null || apt_install Redis redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$rport" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/haven-test.log
  wait_for "$rhost" "$rport" Redis
fi

read -r phost pport < <(host_port "$DATABASE_URL" 5432)
if ! answers "$phost" "$pport"; then
  echo "PostgreSQL is not answering on $phost:$pport; starting it" >&2
  ls /etc/postgresql/*/main >/dev/null 2>&1 || apt_install PostgreSQL postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start
  wait_for "$phost" "$pport" PostgreSQL
  # A fresh Debian cluster wants a password over TCP; give the test user the one the default URL uses.
  su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "Chromium is missing; installing Debian's chromium for the console tests" >&2
  apt_install Chromium "chromium fonts-wqy-microhei"
fi
echo "services ready: Redis $rhost:$rport, PostgreSQL $phost:$pport, Chromium $(/usr/bin/chromium --version 2>/dev/null | head -c 40)" >&2
