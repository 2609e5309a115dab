# Shared helpers for the scripts in this folder. Source it; do not run it.
# shellcheck shell=bash

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$REPO_ROOT/.venv"

# Debian 12 packages, by what needs them.
BASE_PACKAGES=(python3.11 python3.11-venv git make curl ca-certificates)
SERVICE_PACKAGES=(postgresql redis-server openjdk-17-jre-headless maven unzip procps util-linux etcd-server openssl prometheus-node-exporter)
BROWSER_PACKAGES=(chromium fonts-liberation)

say() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Print the last lines of a log file to stderr, to explain a failed start.
show_log_tail() {
    local log=$1 lines=${2:-40}
    if [[ -s $log ]]; then
        printf -- '--- last %s lines of %s ---\n' "$lines" "$log" >&2
        tail -n "$lines" "$log" >&2
        printf -- '---\n' >&2
    else
        printf '(no log at %s)\n' "$log" >&2
    fi
}

package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

_APT_UPDATED=0

# Install the Debian packages that are missing; touch nothing when all are there.
# `apt-get update` runs at most once per script, and only when something is missing.
apt_ensure() {
    local missing=() pkg
    command -v dpkg-query >/dev/null 2>&1 || {
        warn "dpkg-query not found: cannot check for ${*}; assuming they are installed"
        return 0
    }
    for pkg in "$@"; do
        # Once each: callers may name a package that another list also holds.
        package_installed "$pkg" || [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        warn "missing packages ${missing[*]} and cannot install them (need root and apt-get)"
        return 1
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ((!_APT_UPDATED)); then
        apt-get update -qq
        _APT_UPDATED=1
    fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
