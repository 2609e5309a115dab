#!/usr/bin/env bash
# Install what the portal and its test suite need, and nothing already there.
#
#   scripts/install.sh                 Debian packages (services, Chromium) + Python venv
#   scripts/install.sh --no-services   only what the run command needs: Python venv
#
# The venv is rebuilt with `pip install -e '.[dev]'` only when pyproject.toml
# changed since the last install (a stamp file in .venv keeps its hash).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

with_services=1
for arg in "$@"; do
    case $arg in
    --no-services) with_services=0 ;;
    -h | --help)
        sed -n '2,8p' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown argument: $arg" ;;
    esac
done

if ((with_services)); then
    apt_ensure "${BASE_PACKAGES[@]}" "${SERVICE_PACKAGES[@]}" "${BROWSER_PACKAGES[@]}"
else
    # The run command must work where apt is unavailable, as long as Python 3.11 is there.
    apt_ensure "${BASE_PACKAGES[@]}" || warn "continuing with what is installed"
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found; install Python 3.11 with its venv module"

stamp="$VENV/.ops-market-install"
wanted=$(cat "$REPO_ROOT/pyproject.toml" <("$PYTHON" --version) | sha256sum | cut -d' ' -f1)

if [[ -x $VENV/bin/python && -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
    exit 0
fi

if [[ ! -x $VENV/bin/python ]]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
say "pip install -e '.[dev]'"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install --quiet -e "$REPO_ROOT[dev]"
printf '%s\n' "$wanted" >"$stamp"
