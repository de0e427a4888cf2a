# Shared by scripts/test and scripts/bench: installs PostgreSQL, Redis and
# Chromium from Debian packages when they are missing, and Prism from npm, and starts private instances on
# unused ports, checking that each answer comes from our own instance.
# Sets pg_url, pgbouncer_url, pg_replica_url (a streaming replica of it),
# redis_url, redis_tls_url (with redis_ca_file) and redis_cluster_url;
# stops everything on exit.
# shellcheck shell=bash

# Go and npm need a home; a bare CI environment may not say which.
if [ -z "${HOME:-}" ]; then HOME=$(getent passwd "$(id -u)" | cut -d: -f6); export HOME; fi

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'scripts/test: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq || die "apt-get update failed"; apt_updated=1; fi
  as_root apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  log "installing PostgreSQL"; apt_install postgresql
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
command -v redis-server >/dev/null || { log "installing Redis"; apt_install redis-server; }
command -v openssl >/dev/null || { log "installing OpenSSL"; apt_install openssl; }
command -v chromium >/dev/null || { log "installing Chromium (a few minutes)"; apt_install chromium; }
export BECKON_TEST_CHROMIUM="$(command -v chromium)"
command -v npm >/dev/null || { log "installing Node.js and npm"; apt_install nodejs npm; }
command -v go >/dev/null || die "Go is not on PATH"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p=$1; while ! port_free "$p"; do p=$((p + 1)); done; echo "$p"; }

state=$(mktemp -d /tmp/beckon-test.XXXXXX)
chmod 755 "$state"
pg_port=$(free_port 55432)
redis_port=$(free_port 6390)

pg_user_run() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

cleanup() {
  local rc=$?
  if [ -f "$state/replica/postmaster.pid" ]; then pg_user_run "'$pg_bin/pg_ctl' -D '$state/replica' -m fast -w stop" >/dev/null 2>&1 || true; fi
  if [ -f "$state/pg/postmaster.pid" ]; then pg_user_run "'$pg_bin/pg_ctl' -D '$state/pg' -m fast -w stop" >/dev/null 2>&1 || true; fi
  if [ -f "$state/pgbouncer/pgbouncer.pid" ]; then kill "$(cat "$state/pgbouncer/pgbouncer.pid")" 2>/dev/null || true; fi
  if [ -f "$state/redis.pid" ]; then kill "$(cat "$state/redis.pid")" 2>/dev/null || true; fi
  # Cluster nodes write nodes.conf as they stop: wait for them before rm.
  for f in "$state"/redis-*/pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  if [ -f "$state/prism.pid" ]; then kill "$(cat "$state/prism.pid")" 2>/dev/null || true; fi
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT INT TERM

log "starting PostgreSQL on 127.0.0.1:$pg_port"
mkdir -p "$state/pg"
[ "$(id -u)" = 0 ] && chown postgres "$state" "$state/pg"
pg_user_run "'$pg_bin/initdb' -D '$state/pg' -U postgres -A trust --no-sync >'$state/initdb.log' 2>&1" \
  || { cat "$state/initdb.log" >&2; die "initdb failed"; }
pg_user_run "'$pg_bin/pg_ctl' -D '$state/pg' -l '$state/pg.log' -w -t 60 -o \"-c listen_addresses=127.0.0.1 -p $pg_port -k '$state' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" start >/dev/null" \
  || { cat "$state/pg.log" >&2; die "PostgreSQL did not start"; }
pg_url="postgres://postgres@127.0.0.1:$pg_port/postgres?sslmode=disable"
got_dir=$(psql "$pg_url" -Atc 'SHOW data_directory') || die "PostgreSQL on port $pg_port does not answer"
[ "$got_dir" = "$state/pg" ] || die "port $pg_port answers from $got_dir, not our instance"

# PgBouncer in transaction pooling mode in front of our PostgreSQL, every
# database name passed through, as operators run it in front of many nodes.
if [ -x /usr/sbin/pgbouncer ]; then pgbouncer_bin=/usr/sbin/pgbouncer; else pgbouncer_bin=$(command -v pgbouncer || true); fi
if [ -z "$pgbouncer_bin" ]; then log "installing PgBouncer"; apt_install pgbouncer; pgbouncer_bin=/usr/sbin/pgbouncer; fi
pgbouncer_port=$(free_port 56432)
log "starting PgBouncer on 127.0.0.1:$pgbouncer_port"
mkdir -p "$state/pgbouncer"
echo '"postgres" ""' >"$state/pgbouncer/users.txt"
cat >"$state/pgbouncer/pgbouncer.ini" <<EOF_PGBOUNCER
[databases]
* = host=127.0.0.1 port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgbouncer_port
unix_socket_dir =
auth_type = trust
admin_users = postgres
auth_file = $state/pgbouncer/users.txt
pool_mode = transaction
default_pool_size = 10
max_client_conn = 1000
server_idle_timeout = 30
pidfile = $state/pgbouncer/pgbouncer.pid
logfile = $state/pgbouncer/pgbouncer.log
EOF_PGBOUNCER
[ "$(id -u)" = 0 ] && chown -R postgres "$state/pgbouncer"
pg_user_run "'$pgbouncer_bin' -d -q '$state/pgbouncer/pgbouncer.ini'" \
  || { cat "$state/pgbouncer/pgbouncer.log" >&2; die "PgBouncer did not start"; }
pgbouncer_url="postgres://postgres@127.0.0.1:$pgbouncer_port/postgres?sslmode=disable"
for _ in $(seq 50); do psql "$pgbouncer_url" -Atc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
got_dir=$(psql "$pgbouncer_url" -Atc 'SHOW data_directory') || { cat "$state/pgbouncer/pgbouncer.log" >&2; die "PgBouncer on port $pgbouncer_port does not answer"; }
[ "$got_dir" = "$state/pg" ] || die "PgBouncer on port $pgbouncer_port leads to $got_dir, not our instance"
got_mode=$(psql "postgres://postgres@127.0.0.1:$pgbouncer_port/pgbouncer?sslmode=disable" -Atc 'SHOW CONFIG' | awk -F'|' '$1 == "pool_mode" { print $2 }') || true
[ "$got_mode" = transaction ] || die "PgBouncer on port $pgbouncer_port is not in transaction pooling mode (pool_mode: ${got_mode:-unknown})"

# A streaming replica of it (resolve reads replicas). The WAL writer flushes
# every 10 ms (not 200): with synchronous_commit off, a commit reaches the
# replica only once flushed, and resolve waits for the replica to have it.
psql "$pg_url" -qAtc "ALTER SYSTEM SET wal_writer_delay = '10ms'" -c "SELECT pg_reload_conf()" >/dev/null \
  || die "could not set wal_writer_delay"
pg_user_run "'$pg_bin/pg_basebackup' -h 127.0.0.1 -p $pg_port -U postgres -D '$state/replica' -R -X stream >'$state/basebackup.log' 2>&1" \
  || { cat "$state/basebackup.log" >&2; die "pg_basebackup failed"; }
chmod 700 "$state/replica"
# Another test run may take a port between our check and the start: try
# the next free one then.
replica_port=$((pg_port + 1))
for attempt in 1 2 3 4 5; do
  replica_port=$(free_port "$replica_port")
  log "starting a streaming replica of it on 127.0.0.1:$replica_port"
  pg_user_run "'$pg_bin/pg_ctl' -D '$state/replica' -l '$state/replica-$replica_port.log' -w -t 60 -o \"-c listen_addresses=127.0.0.1 -p $replica_port -k '$state' -c fsync=off -c max_connections=200\" start >/dev/null" && break
  grep -q "Address already in use" "$state/replica-$replica_port.log" && [ "$attempt" -lt 5 ] || { cat "$state/replica-$replica_port.log" >&2; die "the PostgreSQL replica did not start"; }
  replica_port=$((replica_port + 1))
done
pg_replica_url="postgres://postgres@127.0.0.1:$replica_port/postgres?sslmode=disable"
got=$(psql "$pg_replica_url" -Atc "SELECT pg_is_in_recovery(), current_setting('data_directory'), system_identifier FROM pg_control_system()") \
  || die "the replica on port $replica_port does not answer"
want="t|$state/replica|$(psql "$pg_url" -Atc 'SELECT system_identifier FROM pg_control_system()')"
[ "$got" = "$want" ] || die "port $replica_port answers $got, not our replica ($want)"

log "starting Redis on 127.0.0.1:$redis_port"
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes \
  --pidfile "$state/redis.pid" --dir "$state" --logfile "$state/redis.log" || die "Redis did not start"
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
got_dir=$(redis-cli -p "$redis_port" CONFIG GET dir | tail -n 1) || die "Redis on port $redis_port does not answer"
[ "$got_dir" = "$state" ] || die "port $redis_port answers from $got_dir, not our instance"

redis_url="redis://127.0.0.1:$redis_port/0"

# Redis over TLS, under a throwaway CA made here (clients trust $redis_ca_file).
redis_tls_port=$(free_port $((redis_port + 1)))
log "starting Redis with TLS on 127.0.0.1:$redis_tls_port"
d="$state/redis-tls"
mkdir -p "$d"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
# shellcheck disable=SC2086
{ openssl req -x509 $ec -days 2 -subj /CN=beckon-test-ca -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=keyCertSign -keyout "$d/ca.key" -out "$d/ca.pem" \
  && openssl req $ec -subj /CN=127.0.0.1 -keyout "$d/redis.key" -out "$d/redis.csr" \
  && printf 'subjectAltName=IP:127.0.0.1\n' >"$d/san" \
  && openssl x509 -req -in "$d/redis.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/san" -out "$d/redis.crt"; } >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; die "openssl failed"; }
redis-server --bind 127.0.0.1 --port 0 --tls-port "$redis_tls_port" --tls-cert-file "$d/redis.crt" \
  --tls-key-file "$d/redis.key" --tls-ca-cert-file "$d/ca.pem" --tls-auth-clients no --save '' --appendonly no \
  --daemonize yes --pidfile "$d/pid" --dir "$d" --logfile "$d/redis.log" || die "Redis with TLS did not start"
redis_tls() { redis-cli --tls --cacert "$d/ca.pem" -p "$redis_tls_port" "$@"; }
for _ in $(seq 50); do redis_tls ping >/dev/null 2>&1 && break; sleep 0.1; done
got_dir=$(redis_tls CONFIG GET dir | tail -n 1) || die "Redis with TLS on port $redis_tls_port does not answer"
[ "$got_dir" = "$d" ] || die "port $redis_tls_port answers from $got_dir, not our instance"
redis_tls_url="rediss://127.0.0.1:$redis_tls_port/0"
redis_ca_file="$d/ca.pem"

# A Redis Cluster of three masters. A test may kill a master and start it
# again with the same command (its CONFIG GET values) and nodes.conf.
cluster_ports=()
p=$((redis_tls_port + 1))
for _ in 1 2 3; do p=$(free_port "$p"); cluster_ports+=("$p"); p=$((p + 1)); done
log "starting a Redis Cluster on 127.0.0.1:${cluster_ports[*]}"
for p in "${cluster_ports[@]}"; do
  d="$state/redis-cluster-$p"
  mkdir -p "$d"
  redis-server --bind 127.0.0.1 --port "$p" --cluster-enabled yes --cluster-config-file "$d/nodes.conf" \
    --dir "$d" --save '' --appendonly no --daemonize yes --pidfile "$d/pid" --logfile "$d/redis.log" \
    || die "Redis Cluster node $p did not start"
done
for p in "${cluster_ports[@]}"; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  got_dir=$(redis-cli -p "$p" CONFIG GET dir | tail -n 1) || die "Redis Cluster node $p does not answer"
  [ "$got_dir" = "$state/redis-cluster-$p" ] || die "port $p answers from $got_dir, not our instance"
done
redis-cli --cluster create "${cluster_ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$state/redis-cluster.log" 2>&1 \
  || { cat "$state/redis-cluster.log" >&2; die "redis-cli --cluster create failed"; }
for _ in $(seq 100); do
  redis-cli -p "${cluster_ports[0]}" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' && break; sleep 0.1
done
redis-cli -p "${cluster_ports[0]}" CLUSTER INFO | grep -q '^cluster_state:ok' || die "the Redis Cluster is not ok"
redis_cluster_url="redis://127.0.0.1:${cluster_ports[0]}?addr=127.0.0.1:${cluster_ports[1]}&addr=127.0.0.1:${cluster_ports[2]}"

# Prism serving Twilio's own OpenAPI document (from @twilio/cli-core): a mock
# that rejects requests Twilio would reject. Installed once into a cache.
prism_dir="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/beckon-test/prism"
if [ ! -x "$prism_dir/node_modules/.bin/prism" ] || [ ! -f "$prism_dir/twilio_api_v2010.json" ]; then
  log "installing Prism and Twilio's OpenAPI document (npm)"
  mkdir -p "$prism_dir"
  (cd "$prism_dir" && export npm_config_cache="$prism_dir/.npm" && npm install --no-audit --no-fund --loglevel=error @stoplight/prism-cli@5.16.0 >/dev/null \
     && npm pack --silent @twilio/cli-core@9.0.0 >/dev/null \
     && tar xzf twilio-cli-core-9.0.0.tgz package/src/services/twilio-api/twilio_api_v2010.json \
     && mv package/src/services/twilio-api/twilio_api_v2010.json . && rm -rf package twilio-cli-core-9.0.0.tgz) \
    || die "could not install Prism"
fi
prism_port=$(free_port 4010)
log "starting Prism (Twilio API mock) on 127.0.0.1:$prism_port"
"$prism_dir/node_modules/.bin/prism" mock -h 127.0.0.1 -p "$prism_port" "$prism_dir/twilio_api_v2010.json" >"$state/prism.log" 2>&1 &
echo $! >"$state/prism.pid"
for _ in $(seq 120); do
  (exec 3<>"/dev/tcp/127.0.0.1/$prism_port") 2>/dev/null && break
  kill -0 "$(cat "$state/prism.pid")" 2>/dev/null || { cat "$state/prism.log" >&2; die "Prism did not start"; }
  sleep 0.5
done
(exec 3<>"/dev/tcp/127.0.0.1/$prism_port") 2>/dev/null || die "Prism does not answer on port $prism_port"
prism_url="http://127.0.0.1:$prism_port"
