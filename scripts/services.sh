#!/usr/bin/env bash
# The real services the test suite and the benchmarks run against, on loopback only:
#
#   PostgreSQL 15      127.0.0.1:55432  role/password/database opsmarket
#   Redis              127.0.0.1:56379
#   Elasticsearch 8    127.0.0.1:59200  single node, no security
#   S3 (moto server)   127.0.0.1:55000  credentials testing/testing
#
# Usage: scripts/services.sh [up|stop|status|env]
#   up      install what is missing, start what is down, wait until each answers (default)
#   stop    stop what `up` started (by pid files)
#   status  one line per service
#   env     `export ...` lines for eval "$(scripts/services.sh env)"
#
# State (data, logs, pid files) lives in $OPSMARKET_SERVICES_DIR, by default
# /var/tmp/ops-market-services. Delete it after `stop` to start from scratch.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR=${OPSMARKET_SERVICES_DIR:-/var/tmp/ops-market-services}

PG_BIN=/usr/lib/postgresql/15/bin
PG_PORT=55432
REDIS_PORT=56379
ES_PORT=59200
S3_PORT=55000

ES_VERSION=8.19.7
ES_ARTIFACT="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip"
MAVEN_REPO=${MAVEN_REPO:-$HOME/.m2/repository}
ES_ZIP="$MAVEN_REPO/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/elasticsearch-$ES_VERSION.zip"
ES_HOME="$STATE_DIR/elasticsearch-$ES_VERSION"
JAVA17_HOME=/usr/lib/jvm/java-17-openjdk-amd64

print_env() {
    cat <<EOF
export DATABASE_URL=postgres://opsmarket:opsmarket@127.0.0.1:$PG_PORT/opsmarket
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export ELASTICSEARCH_URL=http://127.0.0.1:$ES_PORT
export S3_ENDPOINT_URL=http://127.0.0.1:$S3_PORT
export S3_ENDPOINT_ATOMIC=1
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_DEFAULT_REGION=us-east-1
EOF
}

# --- small helpers ------------------------------------------------------------

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

pid_from() { [[ -s $1 ]] && tr -dc '0-9' <"$1" || true; }

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1" || true; }

# wait_until NAME SECONDS PIDFILE LOG CHECK...: poll CHECK every half second; fail
# early with the log's tail when the process behind PIDFILE dies.
wait_until() {
    local name=$1 seconds=$2 pidfile=$3 log=$4
    shift 4
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if [[ -n $pidfile ]] && ! pid_alive "$(pid_from "$pidfile")"; then
            printf 'error: %s exited while starting\n' "$name" >&2
            show_log_tail "$log"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            printf 'error: %s did not answer within %ss\n' "$name" "$seconds" >&2
            show_log_tail "$log"
            return 1
        fi
        sleep 0.5
    done
}

# stop_pid NAME PIDFILE: TERM, wait up to 30 s, then KILL.
stop_pid() {
    local name=$1 pidfile=$2 pid
    pid=$(pid_from "$pidfile")
    if ! pid_alive "$pid"; then
        rm -f "$pidfile"
        printf '%-14s not running\n' "$name"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 60); do
        pid_alive "$pid" || break
        sleep 0.5
    done
    if pid_alive "$pid"; then
        warn "$name (pid $pid) ignored TERM for 30s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
    printf '%-14s stopped\n' "$name"
}

# --- PostgreSQL -----------------------------------------------------------------

PG_DIR="$STATE_DIR/postgres"
PG_DATA="$PG_DIR/data"
PG_SOCKETS="$PG_DIR/run"
PG_LOG="$PG_DIR/postgres.log"

pg_answers() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

pg_app_login_works() {
    PGPASSWORD=opsmarket PGCONNECT_TIMEOUT=3 psql -X -q -h 127.0.0.1 -p "$PG_PORT" \
        -U opsmarket -d opsmarket -Atc 'SELECT 1' >/dev/null 2>&1
}

pg_superuser_sql() {
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKETS" -p "$PG_PORT" \
        -d postgres -Atc "$1"
}

pg_provision() {
    pg_app_login_works && return 0
    if [[ -z $(pg_superuser_sql "SELECT 1 FROM pg_roles WHERE rolname = 'opsmarket'") ]]; then
        pg_superuser_sql "CREATE ROLE opsmarket LOGIN CREATEDB PASSWORD 'opsmarket'"
    else
        pg_superuser_sql "ALTER ROLE opsmarket LOGIN CREATEDB PASSWORD 'opsmarket'"
    fi
    if [[ -z $(pg_superuser_sql "SELECT 1 FROM pg_database WHERE datname = 'opsmarket'") ]]; then
        pg_superuser_sql "CREATE DATABASE opsmarket OWNER opsmarket"
    fi
    pg_app_login_works || die "postgres: cannot log in as opsmarket after provisioning"
}

pg_up() {
    if pg_answers; then
        pg_provision
        printf '%-14s already up on 127.0.0.1:%s\n' postgres "$PG_PORT"
        return 0
    fi
    [[ -x $PG_BIN/initdb ]] || apt_ensure postgresql
    install -d -m 0755 "$PG_DIR"
    chown postgres:postgres "$PG_DIR"
    install -d -m 0700 -o postgres -g postgres "$PG_SOCKETS"
    # The server appends to the log as postgres; this script appends to it as root.
    [[ -f $PG_LOG ]] || install -m 0640 -o postgres -g postgres /dev/null "$PG_LOG"
    chown postgres:postgres "$PG_LOG"
    if [[ ! -s $PG_DATA/PG_VERSION ]]; then
        rm -rf "$PG_DATA"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 \
            --locale=C.UTF-8 --auth-local=peer --auth-host=scram-sha-256 \
            >>"$PG_LOG" 2>&1 || {
            show_log_tail "$PG_LOG"
            die "postgres: initdb failed"
        }
        cat >>"$PG_DATA/postgresql.conf" <<EOF

# ops-market services.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKETS'
max_connections = 200
EOF
    fi
    local started=$SECONDS
    # pg_ctl keeps its pid file at $PG_DATA/postmaster.pid; -w waits until it accepts connections.
    if ! runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start \
        </dev/null >>"$PG_LOG" 2>&1; then
        show_log_tail "$PG_LOG"
        die "postgres did not start"
    fi
    pg_provision
    printf '%-14s up on 127.0.0.1:%s (%ss)\n' postgres "$PG_PORT" $((SECONDS - started))
}

pg_stop() {
    if [[ -f $PG_DATA/postmaster.pid ]]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop \
            >>"$PG_LOG" 2>&1 || warn "postgres: pg_ctl stop failed (see $PG_LOG)"
        printf '%-14s stopped\n' postgres
    else
        printf '%-14s not running\n' postgres
    fi
}

pg_status() {
    if pg_answers; then
        printf '%-14s up    127.0.0.1:%s pid %s\n' postgres "$PG_PORT" \
            "$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || echo '?')"
    else
        printf '%-14s down\n' postgres
    fi
}

# --- Redis ----------------------------------------------------------------------

REDIS_DIR="$STATE_DIR/redis"
REDIS_PID="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

redis_answers() { [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_up() {
    if redis_answers; then
        printf '%-14s already up on 127.0.0.1:%s\n' redis "$REDIS_PORT"
        return 0
    fi
    command -v redis-server >/dev/null 2>&1 || apt_ensure redis-server
    install -d -m 0755 "$REDIS_DIR"
    local started=$SECONDS
    # A cache and a broker for tests: nothing is worth persisting.
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes \
        --pidfile "$REDIS_PID" --logfile "$REDIS_LOG" --dir "$REDIS_DIR" \
        --save '' --appendonly no </dev/null >>"$REDIS_LOG" 2>&1 || {
        show_log_tail "$REDIS_LOG"
        die "redis did not start"
    }
    wait_until redis 20 "" "$REDIS_LOG" redis_answers || exit 1
    printf '%-14s up on 127.0.0.1:%s (%ss)\n' redis "$REDIS_PORT" $((SECONDS - started))
}

redis_status() {
    if redis_answers; then
        printf '%-14s up    127.0.0.1:%s pid %s\n' redis "$REDIS_PORT" "$(pid_from "$REDIS_PID")"
    else
        printf '%-14s down\n' redis
    fi
}

# --- Elasticsearch --------------------------------------------------------------

ES_DIR="$STATE_DIR/elasticsearch"
ES_PID="$ES_DIR/elasticsearch.pid"
ES_LOG="$ES_DIR/start.log"
ES_URL="http://127.0.0.1:$ES_PORT"

es_answers() {
    [[ $(http_code "$ES_URL/_cluster/health?wait_for_status=yellow&timeout=1s") == 200 ]]
}

es_zip() {
    if [[ ! -s $ES_ZIP ]]; then
        command -v mvn >/dev/null 2>&1 || apt_ensure maven
        say "fetching $ES_ARTIFACT from Maven Central"
        mvn -q -B -Dmaven.repo.local="$MAVEN_REPO" dependency:get \
            -Dartifact="$ES_ARTIFACT" -Dtransitive=false </dev/null ||
            die "could not fetch $ES_ARTIFACT with mvn"
    fi
    [[ -s $ES_ZIP ]] || die "mvn fetched $ES_ARTIFACT but $ES_ZIP is missing"
}

es_unpack() {
    [[ -x $ES_HOME/bin/elasticsearch ]] && return 0
    command -v unzip >/dev/null 2>&1 || apt_ensure unzip
    es_zip
    local tmp="$STATE_DIR/.unzip.$$"
    rm -rf "$tmp"
    unzip -q "$ES_ZIP" -d "$tmp"
    rm -rf "$ES_HOME"
    mv "$tmp/elasticsearch-$ES_VERSION" "$ES_HOME"
    rm -rf "$tmp"
}

# Elasticsearch takes the longest to start, so `up` launches it first and waits for
# it last, after the other services came up meanwhile.
ES_LAUNCHER=""
ES_WAS_UP=0
ES_STARTED_AT=0

es_launch() {
    if es_answers; then
        printf '%-14s already up on 127.0.0.1:%s\n' elasticsearch "$ES_PORT"
        ES_WAS_UP=1
        return 0
    fi
    ES_STARTED_AT=$SECONDS
    # A node that is still starting (an `up` that was interrupted) gets to finish.
    pid_alive "$(pid_from "$ES_PID")" && return 0
    es_unpack
    id -u elasticsearch >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --home-dir "$ES_DIR" \
            --shell /usr/sbin/nologin elasticsearch
    install -d -m 0755 -o elasticsearch -g elasticsearch \
        "$ES_DIR" "$ES_DIR/data" "$ES_DIR/logs" "$ES_DIR/tmp"
    # The integ-test zip has no bundled JDK; Debian's Java 17 runs it.
    local java_home=""
    if [[ ! -d $ES_HOME/jdk ]]; then
        [[ -x $JAVA17_HOME/bin/java ]] || apt_ensure openjdk-17-jre-headless
        java_home=$JAVA17_HOME
    fi
    cat >"$ES_HOME/config/elasticsearch.yml" <<EOF
# Written by scripts/services.sh on every start.
cluster.name: opsmarket
node.name: opsmarket-1
path.data: $ES_DIR/data
path.logs: $ES_DIR/logs
network.host: 127.0.0.1
http.port: $ES_PORT
transport.port: $((ES_PORT + 100))
discovery.type: single-node
xpack.security.enabled: false
# A disk that is nearly full must not turn indices read-only under the tests.
cluster.routing.allocation.disk.threshold_enabled: false
# Tests drop their indices by pattern.
action.destructive_requires_name: false
EOF
    chown -R elasticsearch:elasticsearch "$ES_HOME"
    rm -f "$ES_PID"
    # -d returns once the node has started; -p writes the pid file `stop` uses.
    # C1 only (TieredStopAtLevel=1) starts the node a third faster on two busy
    # cores; a test node does not need C2's peak speed. OPSMARKET_ES_JAVA_OPTS=""
    # turns it off.
    runuser -u elasticsearch -- env HOME="$ES_DIR" ES_JAVA_HOME="$java_home" \
        ES_JAVA_OPTS="-Xms512m -Xmx512m ${OPSMARKET_ES_JAVA_OPTS--XX:TieredStopAtLevel=1}" \
        ES_TMPDIR="$ES_DIR/tmp" "$ES_HOME/bin/elasticsearch" -d -p "$ES_PID" \
        </dev/null >"$ES_LOG" 2>&1 &
    ES_LAUNCHER=$!
}

es_wait() {
    local log="$ES_DIR/logs/opsmarket.log"
    if [[ -n $ES_LAUNCHER ]] && ! wait "$ES_LAUNCHER"; then
        show_log_tail "$ES_LOG" 30
        show_log_tail "$log" 30
        die "elasticsearch did not start"
    fi
    ((!ES_WAS_UP)) || return 0
    wait_until elasticsearch "${OPSMARKET_ES_TIMEOUT:-90}" "$ES_PID" "$log" es_answers || exit 1
    printf '%-14s up on 127.0.0.1:%s (%ss)\n' elasticsearch "$ES_PORT" $((SECONDS - ES_STARTED_AT))
}

es_status() {
    if es_answers; then
        printf '%-14s up    127.0.0.1:%s pid %s\n' elasticsearch "$ES_PORT" "$(pid_from "$ES_PID")"
    else
        printf '%-14s down\n' elasticsearch
    fi
}

# --- S3 (moto server) -------------------------------------------------------------

S3_DIR="$STATE_DIR/moto"
S3_PID="$S3_DIR/moto.pid"
S3_LOG="$S3_DIR/moto.log"

s3_answers() { [[ $(http_code "http://127.0.0.1:$S3_PORT/") == 200 ]]; }

s3_up() {
    local pid
    pid=$(pid_from "$S3_PID")
    # A server an older services.sh started as plain moto_server lacks the atomic
    # conditional writes the suite now relies on: replace it.
    if s3_answers && pid_alive "$pid" && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q s3_server.py; then
        say "replacing the plain moto_server (pid $pid) with scripts/s3_server.py"
        stop_pid s3 "$S3_PID" >/dev/null
    fi
    if s3_answers; then
        printf '%-14s already up on 127.0.0.1:%s\n' s3 "$S3_PORT"
        return 0
    fi
    [[ -x $VENV/bin/moto_server ]] || "$REPO_ROOT/scripts/install.sh" --no-services
    install -d -m 0755 "$S3_DIR"
    local started=$SECONDS
    # setsid: a Ctrl-C in the terminal that ran `up` must not reach the server.
    # scripts/s3_server.py: moto's S3 with conditional writes decided atomically
    # (plain moto_server can let two conditional PUTs both win).
    setsid nohup "$VENV/bin/python" "$REPO_ROOT/scripts/s3_server.py" -H 127.0.0.1 -p "$S3_PORT" \
        </dev/null >>"$S3_LOG" 2>&1 &
    echo $! >"$S3_PID"
    wait_until s3 30 "$S3_PID" "$S3_LOG" s3_answers || exit 1
    printf '%-14s up on 127.0.0.1:%s (%ss)\n' s3 "$S3_PORT" $((SECONDS - started))
}

s3_status() {
    if s3_answers; then
        printf '%-14s up    127.0.0.1:%s pid %s\n' s3 "$S3_PORT" "$(pid_from "$S3_PID")"
    else
        printf '%-14s down\n' s3
    fi
}

# --- verbs ----------------------------------------------------------------------

need_root() {
    [[ $(id -u) -eq 0 ]] || die "$1 needs root (it runs PostgreSQL and Elasticsearch as their own users)"
}

# One `up` or `stop` at a time: two test runs may share this state folder. The
# verb re-runs under flock(1) with -o, so the daemons it starts do not inherit
# the lock's file descriptor and hold the lock for ever.
run_locked() {
    if [[ -z ${_OPSMARKET_SERVICES_LOCKED:-} ]]; then
        install -d -m 0755 "$STATE_DIR"
        _OPSMARKET_SERVICES_LOCKED=1 exec flock -o "$STATE_DIR/.lock" \
            bash "${BASH_SOURCE[0]}" "$@"
    fi
}

verb=${1:-up}
case $verb in
up)
    need_root "services.sh up"
    run_locked up
    missing=()
    [[ -x $PG_BIN/initdb ]] || missing+=(postgresql)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    ((${#missing[@]} == 0)) || apt_ensure "${missing[@]}" "${SERVICE_PACKAGES[@]}"
    es_launch
    pg_up
    redis_up
    s3_up
    es_wait
    ;;
stop)
    need_root "services.sh stop"
    run_locked stop
    stop_pid elasticsearch "$ES_PID"
    stop_pid s3 "$S3_PID"
    stop_pid redis "$REDIS_PID"
    pg_stop
    ;;
status)
    pg_status
    redis_status
    es_status
    s3_status
    ;;
env) print_env ;;
-h | --help | help) sed -n '2,16p' "${BASH_SOURCE[0]}" ;;
*) die "unknown verb '$verb' (use up, stop, status or env)" ;;
esac
