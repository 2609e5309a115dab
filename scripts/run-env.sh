# The environment of the run command (`make run`): embedded defaults with DEBUG
# off. Sourced by scripts/run.sh and by tests/portal/test_run_embedded.py.
# shellcheck shell=bash
#
# DEBUG off, because Django's debug pages list every URL pattern and show
# tracebacks with settings to whoever reaches the server. The conveniences of
# the embedded defaults stay: a secret key made once and kept in the data
# folder, loopback hosts, and plain-http cookies (PORTAL_TLS=0: this server
# is not behind TLS; production keeps the default, TLS-only cookies and HSTS).

export DEBUG=0
export PORTAL_TLS=0
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-127.0.0.1,localhost,[::1]}"

_run_data_dir="${PORTAL_DATA_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/var}"
mkdir -p "$_run_data_dir"
if [[ ! -s "$_run_data_dir/secret_key" ]]; then
    (umask 077 && head -c 48 /dev/urandom | base64 -w0 >"$_run_data_dir/secret_key")
fi
SECRET_KEY=$(<"$_run_data_dir/secret_key")
export SECRET_KEY
unset _run_data_dir
