#!/usr/bin/env bash
# The run command (`make run`): the portal on embedded defaults, nothing external.
#
#   SQLite, the worker queue and the markets in ./var (PORTAL_DATA_DIR), the
#   database search backend. Migrates, loads the demo data, then runs the web
#   server on http://127.0.0.1:${PORT:-8000}/ and a Celery worker with the
#   scheduler (-B) side by side, and prints the demo logins once both are up.
#   A worker that dies is started again (pausing longer each time it dies
#   quickly); the web server dying stops both. Ctrl-C stops both.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$REPO_ROOT/scripts/install.sh" --no-services

cd "$REPO_ROOT"
# Embedded defaults: whatever a shell exported for the test suite stays out.
unset DATABASE_URL REDIS_URL ELASTICSEARCH_URL S3_ENDPOINT_URL
# DEBUG off (no debug pages), with the embedded conveniences kept.
# shellcheck source=scripts/run-env.sh
. "$REPO_ROOT/scripts/run-env.sh"
PORT=${PORT:-8000}
PY="$VENV/bin/python"

if curl -s -o /dev/null -m 2 "http://127.0.0.1:$PORT/" 2>/dev/null; then
    die "something already answers on 127.0.0.1:$PORT (another 'make run'?); stop it or set PORT"
fi

say "migrate"
"$PY" manage.py migrate --noinput -v 0
say "collectstatic"
# Cheap when nothing changed; needed for DEBUG=0, where whitenoise serves STATIC_ROOT
# from its manifest (which anything rendering a page, demo_load too, reads).
"$PY" manage.py collectstatic --noinput -v 0
say "demo data"
# --force: DEBUG is off, and this is the throwaway site the demo logins are for
# (its server listens on loopback only).
logins=$("$PY" manage.py demo_load --force)

# Each child gets its own process group (job control on while it starts), so a
# Ctrl-C in the terminal reaches only this script, which then stops both. Their
# output goes to the terminal and to logs in the data folder.
log_dir="${PORTAL_DATA_DIR:-$REPO_ROOT/var}/log"
mkdir -p "$log_dir"
web_log="$log_dir/web.log"
worker_log="$log_dir/worker.log"
web=""
worker=""
worker_started=0

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

start_web() {
    # runserver is the development server: the run command is for trying the portal
    # on one machine. Production runs a WSGI server on portal.wsgi (SPEC section 4).
    set -m
    "$PY" manage.py runserver "127.0.0.1:$PORT" --noreload </dev/null > >(tee -a "$web_log") 2>&1 &
    web=$!
    set +m # the group is made; no job-status chatter from here on
}

start_worker() {
    set -m
    "$VENV/bin/celery" -A portal worker -B --loglevel=info --concurrency=2 </dev/null \
        > >(tee -a "$worker_log") 2>&1 &
    worker=$!
    set +m
    worker_started=$SECONDS
}

stop_all() {
    trap - INT TERM
    local pid
    # TERM the leaders only: Celery's warm shutdown stops its own pool and beat,
    # which a TERM to every process of its group would interrupt.
    for pid in $web $worker; do kill -TERM "$pid" 2>/dev/null || true; done
    # The warm shutdown waits for running tasks; give it 20 s, then KILL the groups.
    for _ in $(seq 40); do
        local alive=0
        for pid in $web $worker; do group_alive "$pid" && alive=1; done
        ((alive)) || break
        sleep 0.5
    done
    for pid in $web $worker; do
        if group_alive "$pid"; then
            warn "process group $pid did not stop within 20 s; killing it"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done
    wait 2>/dev/null || true
}

on_signal() {
    printf '\n'
    say "stopping the web server and the worker"
    stop_all
    exit 0
}
trap on_signal INT TERM

# Wait (up to 60 s) until the web server answers and the worker has said it is
# ready, so that the logins come after their start-up banners.
wait_until_up() {
    local worker_log_from=$1
    for _ in $(seq 120); do
        if curl -s -o /dev/null -m 1 "http://127.0.0.1:$PORT/healthz" &&
            tail -c "+$((worker_log_from + 1))" "$worker_log" | grep -q ' ready\.$'; then
            return 0
        fi
        if ! kill -0 "$web" 2>/dev/null || ! kill -0 "$worker" 2>/dev/null; then
            return 0
        fi
        sleep 0.5
    done
}

worker_log_size=$(stat -c %s "$worker_log" 2>/dev/null || echo 0)
start_web
start_worker
wait_until_up "$worker_log_size"

cat <<EOF

==> Ops Market: http://127.0.0.1:$PORT/   (admin console: http://127.0.0.1:$PORT/admin/)
$logins
==> Logs: $web_log and $worker_log
==> Ctrl-C stops the web server and the worker.

EOF

# The web server exiting on its own is a failure: stop the worker and report it.
# The worker exiting is not (queued messages are files, and wait for the next
# one): start it again, pausing longer after each quick death (1 s, 2 s ... 60 s).
backoff=1
while true; do
    set +e
    wait -n "$web" "$worker"
    status=$?
    set -e
    if ! kill -0 "$web" 2>/dev/null; then
        trap - INT TERM
        warn "the web server exited (status $status); stopping the worker"
        stop_all
        exit 1
    fi
    kill -0 "$worker" 2>/dev/null && continue
    ran=$((SECONDS - worker_started))
    ((ran < 60)) || backoff=1
    # Its pool processes and beat can outlive it; a second beat would double the schedule.
    kill -KILL -- "-$worker" 2>/dev/null || true
    warn "the worker exited (status $status) after ${ran}s; starting it again in ${backoff}s" \
        "(log: $worker_log)"
    # In the background, so that a Ctrl-C meanwhile is handled at once.
    sleep "$backoff" &
    wait $! || true
    backoff=$((backoff * 2 > 60 ? 60 : backoff * 2))
    start_worker
done
