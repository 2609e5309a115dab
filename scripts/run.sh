#!/usr/bin/env bash
# The run command (`make run`): the portal on embedded defaults, nothing external.
#
#   SQLite, the worker queue and the markets in ./var (PORTAL_DATA_DIR), the
#   database search backend. Migrates, loads the demo data, then runs the web
#   server on http://127.0.0.1:${PORT:-8000}/ and a Celery worker with the
#   scheduler (-B) side by side. Ctrl-C stops both.
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

# Each child gets its own process group (job control on while they start), so a
# Ctrl-C in the terminal reaches only this script, which then stops both.
web=""
worker=""

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

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

# runserver is the development server: the run command is for trying the portal
# on one machine. Production runs a WSGI server on portal.wsgi (SPEC section 4).
set -m
"$PY" manage.py runserver "127.0.0.1:$PORT" --noreload </dev/null &
web=$!
"$VENV/bin/celery" -A portal worker -B --loglevel=info --concurrency=2 </dev/null &
worker=$!
set +m # the groups are made; no job-status chatter from here on

cat <<EOF

==> Ops Market: http://127.0.0.1:$PORT/   (admin console: http://127.0.0.1:$PORT/admin/)
$logins
==> Ctrl-C stops the web server (pid $web) and the worker (pid $worker).

EOF

# Either child exiting on its own is a failure: stop the other and report it.
set +e
wait -n "$web" "$worker"
status=$?
set -e
trap - INT TERM
if kill -0 "$web" 2>/dev/null; then gone=worker; else gone="web server"; fi
warn "the $gone exited (status $status); stopping the rest"
stop_all
exit 1
