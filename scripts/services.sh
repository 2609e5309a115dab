#!/usr/bin/env bash
# The real services the test suite and the benchmarks run against, on loopback only:
#
#   PostgreSQL 15      127.0.0.1:55432  role/password/database opsmarket
#   Redis              127.0.0.1:56379
#   Elasticsearch 8    127.0.0.1:59200  single node, no security
#   S3 (moto server)   127.0.0.1:55000  credentials testing/testing
#   Kubernetes API     https://127.0.0.1:56443  kube-apiserver on etcd (127.0.0.1:52379),
#                      no kubelet or controllers; a generated CA, static tokens
#   Kafka 4 (KRaft)    127.0.0.1:59092  one node, broker and controller (59093)
#   node exporter      127.0.0.1:59100  Debian's prometheus-node-exporter
#
# Usage: scripts/services.sh [up|stop|status|env]
#   up      install what is missing, start what is down, wait until each answers (default)
#   stop    stop what `up` started (by pid files)
#   status  one line per service
#   env     `export ...` lines for eval "$(scripts/services.sh env)"
#
# State (data, logs, pid files) lives in $OPSMARKET_SERVICES_DIR, by default
# /var/tmp/ops-market-services. Delete it after `stop` to start from scratch.
# Built binaries (kube-apiserver) and fetched jars (Kafka) are kept in
# $OPSMARKET_CACHE_DIR, by default /var/cache/ops-market, keyed by version: only a
# fresh machine builds or fetches them.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE_DIR=${OPSMARKET_SERVICES_DIR:-/var/tmp/ops-market-services}

PG_BIN=/usr/lib/postgresql/15/bin
PG_PORT=55432
REDIS_PORT=56379
ES_PORT=59200
S3_PORT=55000
ETCD_PORT=52379
KUBE_PORT=56443
KAFKA_PORT=59092 # and the controller's listener on the next port
NODE_EXPORTER_PORT=59100

CACHE_DIR=${OPSMARKET_CACHE_DIR:-/var/cache/ops-market}
# Keep in step with the versions pinned in scripts/kube-apiserver/go.mod.
KUBE_VERSION=v1.34.2
KAFKA_VERSION=4.4.0
# The SLF4J 1.x binding of the log4j2 that kafka-server $KAFKA_VERSION depends on.
KAFKA_LOG4J_VERSION=2.25.5

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
export NODE_EXPORTER_URL=http://127.0.0.1:$NODE_EXPORTER_PORT
EOF
    kube_print_env
    ! kafka_wanted || kafka_print_env
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

# --- Kubernetes API server (etcd + kube-apiserver) -----------------------------------
#
# A real API server, so authentication, RBAC, admission and server-side apply behave as
# in a cluster. No kubelet, scheduler or controllers run: pods never start, a deleted
# namespace stays Terminating, nothing is garbage-collected by owner references.

ETCD_DIR="$STATE_DIR/etcd"
ETCD_PID="$ETCD_DIR/etcd.pid"
ETCD_LOG="$ETCD_DIR/etcd.log"
ETCD_URL="http://127.0.0.1:$ETCD_PORT"

KUBE_DIR="$STATE_DIR/kube"
KUBE_PKI="$KUBE_DIR/pki"
KUBE_PID="$KUBE_DIR/kube-apiserver.pid"
KUBE_LOG="$KUBE_DIR/kube-apiserver.log"
KUBE_URL="https://127.0.0.1:$KUBE_PORT"
KUBE_USER=kube-apiserver
KUBE_BIN="$CACHE_DIR/kube-apiserver-$KUBE_VERSION"
KUBE_BUILD_LOG="$CACHE_DIR/kube-apiserver-$KUBE_VERSION.build.log"

# OPSMARKET_KUBE=0 leaves the API server out (a machine without Go that never built it).
kube_wanted() { [[ ${OPSMARKET_KUBE:-1} != 0 ]]; }

kube_print_env() {
    # Only once `up` made the tokens (and for whoever may read them): before that there
    # is no server to point at, and the tests that need one skip.
    [[ -r $KUBE_PKI/admin.token && -r $KUBE_PKI/limited.token ]] || return 0
    cat <<EOT
export KUBE_API_URL=$KUBE_URL
export KUBE_CA_FILE=$KUBE_PKI/ca.crt
export KUBE_TOKEN=$(<"$KUBE_PKI/admin.token")
export KUBE_LIMITED_TOKEN=$(<"$KUBE_PKI/limited.token")
EOT
}

etcd_answers() { [[ $(curl -s -m 2 "$ETCD_URL/health" 2>/dev/null || true) == *'"health":"true"'* ]]; }

kube_answers() {
    [[ -r $KUBE_PKI/admin.token ]] &&
        [[ $(curl -s -m 2 --cacert "$KUBE_PKI/ca.crt" \
            -H "Authorization: Bearer $(<"$KUBE_PKI/admin.token")" "$KUBE_URL/readyz" 2>/dev/null ||
            true) == ok ]]
}

go_command() {
    local go
    for go in "$(command -v go || true)" /usr/local/go/bin/go; do
        if [[ -n $go && -x $go ]]; then
            printf '%s\n' "$go"
            return 0
        fi
    done
    return 1
}

# kube-apiserver is not packaged for Debian; it is built from the k8s.io/kubernetes
# module pinned in scripts/kube-apiserver/go.mod, once per version. The build takes
# minutes of both cores, so `up` launches it first, in the background, and waits for it
# after the other services came up. Go's module and build caches live beside the binary
# (unless GOMODCACHE / GOCACHE say otherwise) so that deleting $CACHE_DIR starts afresh;
# the module cache (~0.5 GB) is kept for the next version, the build cache dropped.
KUBE_BUILDER=""
KUBE_BUILD_STARTED_AT=0

kube_build_launch() {
    [[ -x $KUBE_BIN ]] && return 0
    local go minor
    go=$(go_command) || die "kube-apiserver $KUBE_VERSION is built once from source and no Go" \
        "toolchain was found: install Go >= 1.24 (https://go.dev/dl/), put a kube-apiserver" \
        "$KUBE_VERSION binary at $KUBE_BIN, or set OPSMARKET_KUBE=0 to go without it"
    install -d -m 0755 "$CACHE_DIR"
    minor=${KUBE_VERSION#v1.}
    minor=${minor%%.*}
    say "building kube-apiserver $KUBE_VERSION once, in the background (log: $KUBE_BUILD_LOG)"
    KUBE_BUILD_STARTED_AT=$SECONDS
    (
        cd "$REPO_ROOT/scripts/kube-apiserver"
        own_build_cache=0
        [[ -n ${GOCACHE:-} ]] || own_build_cache=1
        export GOMODCACHE=${GOMODCACHE:-$CACHE_DIR/go/mod} GOCACHE=${GOCACHE:-$CACHE_DIR/go/build}
        # -mod=readonly: build exactly what go.sum pins. The version ldflags matter:
        # without them the server reports v0.0.0-master+$Format:%H$ and clients fail
        # to parse it.
        "$go" build -mod=readonly -trimpath -o "$KUBE_BIN.tmp" -ldflags "-s -w \
            -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
            -X k8s.io/component-base/version.gitMajor=1 \
            -X k8s.io/component-base/version.gitMinor=$minor \
            -X k8s.io/component-base/version.gitTreeState=clean" \
            k8s.io/kubernetes/cmd/kube-apiserver
        mv -f "$KUBE_BIN.tmp" "$KUBE_BIN"
        # The build cache (about 2 GB) serves only a rebuild of this same binary, which
        # the binary itself makes needless; disks here have been seen nearly full.
        # Only when it is ours: a GOCACHE from the environment is someone's own.
        if ((own_build_cache)); then "$go" clean -cache; fi
    ) </dev/null >"$KUBE_BUILD_LOG" 2>&1 &
    KUBE_BUILDER=$!
}

kube_build_wait() {
    [[ -n $KUBE_BUILDER ]] || return 0
    if ! wait "$KUBE_BUILDER"; then
        rm -f "$KUBE_BIN.tmp"
        show_log_tail "$KUBE_BUILD_LOG"
        die "building kube-apiserver $KUBE_VERSION failed"
    fi
    printf '%-14s built %s in %ss (%s)\n' kube-apiserver "$KUBE_VERSION" \
        $((SECONDS - KUBE_BUILD_STARTED_AT)) "$KUBE_BIN"
}

# A CA, the serving certificate for 127.0.0.1/localhost, the service-account key pair
# and the static tokens: an admin in system:masters, and `limited`, bound to nothing,
# for the tests of what a token without rights gets. Made once per state folder, in a
# scratch folder renamed into place so that an interrupted run leaves no half set.
kube_pki() {
    [[ -s $KUBE_PKI/tokens.csv ]] && return 0
    local tmp="$KUBE_DIR/.pki.$$"
    rm -rf "$tmp"
    install -d -m 0755 "$tmp"
    (
        cd "$tmp"
        umask 077
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -subj "/CN=ops-market test CA" -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign -keyout ca.key -out ca.crt
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -subj /CN=kube-apiserver -keyout server.key -out server.csr
        printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
            'basicConstraints=critical,CA:FALSE' 'keyUsage=critical,digitalSignature' \
            'extendedKeyUsage=serverAuth' 'authorityKeyIdentifier=keyid' >server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -days 3650 \
            -set_serial "0x$(openssl rand -hex 16)" -extfile server.ext -out server.crt
        openssl genrsa -out sa.key 2048
        openssl rsa -in sa.key -pubout -out sa.pub
        openssl rand -hex 32 >admin.token
        openssl rand -hex 32 >limited.token
        printf '%s,admin,opsmarket-admin,"system:masters"\n%s,limited,opsmarket-limited\n' \
            "$(<admin.token)" "$(<limited.token)" >tokens.csv
        rm -f server.csr server.ext
    ) >/dev/null 2>&1 || {
        rm -rf "$tmp"
        die "kube-apiserver: could not make the CA, certificates and tokens with openssl"
    }
    # The server reads its key, the signing key and the tokens; the CA key stays root's.
    chmod 0644 "$tmp/ca.crt" "$tmp/server.crt" "$tmp/sa.pub"
    chgrp "$KUBE_USER" "$tmp/server.key" "$tmp/sa.key" "$tmp/tokens.csv"
    chmod 0640 "$tmp/server.key" "$tmp/sa.key" "$tmp/tokens.csv"
    rm -rf "$KUBE_PKI"
    mv "$tmp" "$KUBE_PKI"
}

etcd_up() {
    if etcd_answers; then
        printf '%-14s already up on 127.0.0.1:%s\n' etcd "$ETCD_PORT"
        return 0
    fi
    command -v etcd >/dev/null 2>&1 || apt_ensure etcd-server
    install -d -m 0755 "$ETCD_DIR"
    install -d -m 0700 -o etcd -g etcd "$ETCD_DIR/data"
    local started=$SECONDS
    # A server that is still starting (an `up` that was interrupted) gets to finish.
    if ! pid_alive "$(pid_from "$ETCD_PID")"; then
        # --unsafe-no-fsync: throwaway test data, and fsync on a busy shared disk is
        # what makes etcd slow. setsid: a Ctrl-C in the terminal must not reach it.
        setsid nohup setpriv --reuid=etcd --regid=etcd --init-groups -- \
            etcd --name opsmarket --data-dir "$ETCD_DIR/data" \
            --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
            --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
            --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
            --initial-cluster "opsmarket=http://127.0.0.1:$((ETCD_PORT + 1))" \
            --unsafe-no-fsync </dev/null >>"$ETCD_LOG" 2>&1 &
        echo $! >"$ETCD_PID"
    fi
    wait_until etcd 30 "$ETCD_PID" "$ETCD_LOG" etcd_answers || exit 1
    printf '%-14s up on 127.0.0.1:%s (%ss)\n' etcd "$ETCD_PORT" $((SECONDS - started))
}

kube_up() {
    if kube_answers; then
        printf '%-14s already up on %s\n' kube-apiserver "$KUBE_URL"
        return 0
    fi
    kube_build_wait
    [[ -x $KUBE_BIN ]] || die "kube-apiserver: $KUBE_BIN is missing"
    id -u "$KUBE_USER" >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --home-dir "$KUBE_DIR" \
            --shell /usr/sbin/nologin "$KUBE_USER"
    install -d -m 0755 "$KUBE_DIR"
    kube_pki
    etcd_up
    local started=$SECONDS
    if ! pid_alive "$(pid_from "$KUBE_PID")"; then
        # --endpoint-reconciler-type=none: with no node network there is no address to
        # advertise for the `kubernetes` Service, and the reconciler would log an error
        # every 10 s.
        setsid nohup setpriv --reuid="$KUBE_USER" --regid="$KUBE_USER" --init-groups -- \
            "$KUBE_BIN" --etcd-servers="$ETCD_URL" \
            --bind-address=127.0.0.1 --secure-port="$KUBE_PORT" \
            --tls-cert-file="$KUBE_PKI/server.crt" --tls-private-key-file="$KUBE_PKI/server.key" \
            --token-auth-file="$KUBE_PKI/tokens.csv" --authorization-mode=RBAC \
            --service-account-issuer=https://kubernetes.default.svc.cluster.local \
            --service-account-key-file="$KUBE_PKI/sa.pub" \
            --service-account-signing-key-file="$KUBE_PKI/sa.key" \
            --api-audiences=https://kubernetes.default.svc.cluster.local \
            --service-cluster-ip-range=10.96.0.0/16 --endpoint-reconciler-type=none \
            --profiling=false </dev/null >>"$KUBE_LOG" 2>&1 &
        echo $! >"$KUBE_PID"
    fi
    wait_until kube-apiserver "${OPSMARKET_KUBE_TIMEOUT:-120}" "$KUBE_PID" "$KUBE_LOG" \
        kube_answers || exit 1
    printf '%-14s up on %s (%ss)\n' kube-apiserver "$KUBE_URL" $((SECONDS - started))
}

kube_status() {
    if etcd_answers; then
        printf '%-14s up    127.0.0.1:%s pid %s\n' etcd "$ETCD_PORT" "$(pid_from "$ETCD_PID")"
    else
        printf '%-14s down\n' etcd
    fi
    if kube_answers; then
        printf '%-14s up    %s pid %s %s\n' kube-apiserver "$KUBE_URL" "$(pid_from "$KUBE_PID")" \
            "$KUBE_VERSION"
    elif [[ -x $KUBE_BIN ]]; then
        printf '%-14s down\n' kube-apiserver
    else
        printf '%-14s down  (not built yet: %s)\n' kube-apiserver "$KUBE_BIN"
    fi
}

# --- Kafka (one KRaft node, broker and controller) ---------------------------------
#
# The metrics stream's broker (SPEC section 10). Not packaged for Debian: the jars of
# org.apache.kafka:kafka_2.13 and their runtime dependencies come from Maven Central
# once per version, through a throwaway pom, into $CACHE_DIR/kafka-$KAFKA_VERSION/lib
# (about 45 jars, 43 MB, ~20 s cold). The storage folder is formatted once.

KAFKA_DIR="$STATE_DIR/kafka"
KAFKA_PID="$KAFKA_DIR/kafka.pid"
KAFKA_LOG="$KAFKA_DIR/kafka.log"
KAFKA_USER=kafka
KAFKA_LIB="$CACHE_DIR/kafka-$KAFKA_VERSION/lib"
KAFKA_FETCH_LOG="$CACHE_DIR/kafka-$KAFKA_VERSION.fetch.log"

# OPSMARKET_KAFKA=0 leaves the broker out; the stream tests then skip.
kafka_wanted() { [[ ${OPSMARKET_KAFKA:-1} != 0 ]]; }

kafka_print_env() {
    # Only once the jars are there: before the first `up` there is no broker to point at.
    [[ -d $KAFKA_LIB ]] || return 0
    cat <<EOT
export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$KAFKA_PORT
export KAFKA_LIBS=$KAFKA_LIB
EOT
}

# A TCP connect: the broker opens its listener only once it has started.
kafka_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null; }

kafka_started() { grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null; }

kafka_java() {
    if [[ -x $JAVA17_HOME/bin/java ]]; then
        printf '%s\n' "$JAVA17_HOME/bin/java"
    else
        command -v java
    fi
}

kafka_fetch() {
    [[ -s $KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar ]] && return 0
    command -v mvn >/dev/null 2>&1 || apt_ensure maven
    install -d -m 0755 "$CACHE_DIR"
    local tmp="$CACHE_DIR/.kafka-$KAFKA_VERSION.$$" started=$SECONDS
    rm -rf "$tmp"
    install -d -m 0755 "$tmp"
    say "fetching Kafka $KAFKA_VERSION's jars from Maven Central (log: $KAFKA_FETCH_LOG)"
    # Without an SLF4J binding the broker logs nothing, and "Kafka Server started" is
    # what `up` waits for.
    cat >"$tmp/pom.xml" <<EOT
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.ops-market</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$KAFKA_LOG4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOT
    if ! mvn -B -q -f "$tmp/pom.xml" -Dmaven.repo.local="$MAVEN_REPO" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/lib" \
        </dev/null >"$KAFKA_FETCH_LOG" 2>&1; then
        rm -rf "$tmp"
        show_log_tail "$KAFKA_FETCH_LOG"
        die "could not fetch Kafka $KAFKA_VERSION's jars with mvn"
    fi
    # Renamed into place: an interrupted fetch leaves no half set behind.
    rm -rf "$CACHE_DIR/kafka-$KAFKA_VERSION"
    install -d -m 0755 "$CACHE_DIR/kafka-$KAFKA_VERSION"
    mv "$tmp/lib" "$KAFKA_LIB"
    rm -rf "$tmp"
    printf '%-14s fetched %s jars in %ss (%s)\n' kafka "$(find "$KAFKA_LIB" -name '*.jar' | wc -l)" \
        $((SECONDS - started)) "$KAFKA_LIB"
}

# The configuration, written on every start; the cluster id, made once with the
# storage folder it formats.
kafka_configure() {
    cat >"$KAFKA_DIR/server.properties" <<EOT
# Written by scripts/services.sh on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$((KAFKA_PORT + 1))
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$((KAFKA_PORT + 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=1
# One node: every internal topic has one replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Test topics come and go: the producer's first message creates its topic, and a
# consumer group starts at once instead of waiting 3 s for more members.
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
log.retention.hours=24
EOT
    cat >"$KAFKA_DIR/log4j2.properties" <<EOT
# Written by scripts/services.sh: INFO to stdout (the log file), the chatty
# per-request and state-change loggers quieter.
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.state.name=state.change.logger
logger.state.level=WARN
logger.request.name=kafka.request.logger
logger.request.level=WARN
EOT
    chmod 0644 "$KAFKA_DIR/server.properties" "$KAFKA_DIR/log4j2.properties"
}

kafka_format() {
    [[ -s $KAFKA_DIR/data/meta.properties ]] && return 0
    local cluster_id java
    java=$(kafka_java) || die "kafka: no java found (openjdk-17-jre-headless)"
    # A cluster id is 16 random bytes in URL-safe base64 without padding.
    cluster_id=$(openssl rand 16 | base64 | tr '+/' '-_' | tr -d '=')
    rm -rf "$KAFKA_DIR/data"
    install -d -m 0750 -o "$KAFKA_USER" -g "$KAFKA_USER" "$KAFKA_DIR/data"
    setpriv --reuid="$KAFKA_USER" --regid="$KAFKA_USER" --init-groups -- \
        "$java" -Xmx128m -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
        -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format -t "$cluster_id" \
        -c "$KAFKA_DIR/server.properties" </dev/null >>"$KAFKA_LOG" 2>&1 || {
        show_log_tail "$KAFKA_LOG"
        die "kafka: formatting $KAFKA_DIR/data failed"
    }
}

KAFKA_WAS_UP=0
KAFKA_STARTED_AT=0

# Launched before the other services and waited for after them, like Elasticsearch:
# the broker's 6 s start overlaps theirs.
kafka_launch() {
    if kafka_answers; then
        printf '%-14s already up on 127.0.0.1:%s\n' kafka "$KAFKA_PORT"
        KAFKA_WAS_UP=1
        return 0
    fi
    KAFKA_STARTED_AT=$SECONDS
    # A broker that is still starting (an `up` that was interrupted) gets to finish.
    pid_alive "$(pid_from "$KAFKA_PID")" && return 0
    kafka_fetch
    id -u "$KAFKA_USER" >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --home-dir "$KAFKA_DIR" \
            --shell /usr/sbin/nologin "$KAFKA_USER"
    install -d -m 0755 "$KAFKA_DIR"
    [[ -d $KAFKA_DIR/data ]] && chown "$KAFKA_USER:$KAFKA_USER" "$KAFKA_DIR/data"
    kafka_configure
    # Truncated at each start: `kafka_started` reads this start's lines only.
    : >"$KAFKA_LOG"
    kafka_format
    local java
    java=$(kafka_java) || die "kafka: no java found (openjdk-17-jre-headless)"
    # SerialGC and a 256 MB heap: a test broker on two shared cores, ~340 MB RSS.
    # setsid: a Ctrl-C in the terminal that ran `up` must not reach the broker.
    setsid nohup setpriv --reuid="$KAFKA_USER" --regid="$KAFKA_USER" --init-groups -- \
        "$java" -Xmx256m -Xms256m -XX:+UseSerialGC -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
        -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
        </dev/null >>"$KAFKA_LOG" 2>&1 &
    echo $! >"$KAFKA_PID"
}

kafka_wait() {
    ((!KAFKA_WAS_UP)) || return 0
    wait_until kafka "${OPSMARKET_KAFKA_TIMEOUT:-90}" "$KAFKA_PID" "$KAFKA_LOG" kafka_started ||
        exit 1
    printf '%-14s up on 127.0.0.1:%s (%ss)\n' kafka "$KAFKA_PORT" $((SECONDS - KAFKA_STARTED_AT))
}

kafka_status() {
    if kafka_answers; then
        printf '%-14s up    127.0.0.1:%s pid %s %s\n' kafka "$KAFKA_PORT" "$(pid_from "$KAFKA_PID")" \
            "$KAFKA_VERSION"
    elif [[ -d $KAFKA_LIB ]]; then
        printf '%-14s down\n' kafka
    else
        printf '%-14s down  (jars not fetched yet: %s)\n' kafka "$KAFKA_LIB"
    fi
}

# --- Prometheus node exporter ------------------------------------------------------
#
# Debian's prometheus-node-exporter, a real exporter for the scraping tests. The
# package's own service does not start in a container; this runs it as the package's
# `prometheus` user.

NODE_EXPORTER_DIR="$STATE_DIR/node-exporter"
NODE_EXPORTER_PID="$NODE_EXPORTER_DIR/node-exporter.pid"
NODE_EXPORTER_LOG="$NODE_EXPORTER_DIR/node-exporter.log"
NODE_EXPORTER_URL="http://127.0.0.1:$NODE_EXPORTER_PORT"

node_exporter_answers() { [[ $(http_code "$NODE_EXPORTER_URL/metrics") == 200 ]]; }

node_exporter_up() {
    if node_exporter_answers; then
        printf '%-14s already up on 127.0.0.1:%s\n' node-exporter "$NODE_EXPORTER_PORT"
        return 0
    fi
    command -v prometheus-node-exporter >/dev/null 2>&1 || apt_ensure prometheus-node-exporter
    install -d -m 0755 "$NODE_EXPORTER_DIR"
    local started=$SECONDS
    if ! pid_alive "$(pid_from "$NODE_EXPORTER_PID")"; then
        setsid nohup setpriv --reuid=prometheus --regid=prometheus --init-groups -- \
            prometheus-node-exporter --web.listen-address="127.0.0.1:$NODE_EXPORTER_PORT" \
            </dev/null >>"$NODE_EXPORTER_LOG" 2>&1 &
        echo $! >"$NODE_EXPORTER_PID"
    fi
    wait_until node-exporter 30 "$NODE_EXPORTER_PID" "$NODE_EXPORTER_LOG" node_exporter_answers ||
        exit 1
    printf '%-14s up on 127.0.0.1:%s (%ss)\n' node-exporter "$NODE_EXPORTER_PORT" \
        $((SECONDS - started))
}

node_exporter_status() {
    if node_exporter_answers; then
        printf '%-14s up    127.0.0.1:%s pid %s\n' node-exporter "$NODE_EXPORTER_PORT" \
            "$(pid_from "$NODE_EXPORTER_PID")"
    else
        printf '%-14s down\n' node-exporter
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
    command -v prometheus-node-exporter >/dev/null 2>&1 || missing+=(prometheus-node-exporter)
    if kafka_wanted; then
        command -v mvn >/dev/null 2>&1 || missing+=(maven)
        command -v openssl >/dev/null 2>&1 || missing+=(openssl) # the cluster id
        [[ -x $JAVA17_HOME/bin/java ]] || missing+=(openjdk-17-jre-headless)
    fi
    if kube_wanted; then
        command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
        command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    fi
    ((${#missing[@]} == 0)) || apt_ensure "${missing[@]}" "${SERVICE_PACKAGES[@]}"
    ! kube_wanted || kube_build_launch
    es_launch
    ! kafka_wanted || kafka_launch
    pg_up
    redis_up
    s3_up
    node_exporter_up
    es_wait
    ! kafka_wanted || kafka_wait
    ! kube_wanted || kube_up
    ;;
stop)
    need_root "services.sh stop"
    run_locked stop
    stop_pid kafka "$KAFKA_PID"
    stop_pid node-exporter "$NODE_EXPORTER_PID"
    stop_pid kube-apiserver "$KUBE_PID"
    stop_pid etcd "$ETCD_PID"
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
    node_exporter_status
    kafka_status
    kube_status
    ;;
env) print_env ;;
-h | --help | help) sed -n '2,25p' "${BASH_SOURCE[0]}" ;;
*) die "unknown verb '$verb' (use up, stop, status or env)" ;;
esac
