#!/usr/bin/env bash
# Install what the portal and its test suite need, and nothing already there.
#
#   scripts/install.sh                 Debian packages (services, Chromium) + the Python
#                                      venv with the dev tools (pytest, Playwright, mypy...)
#   scripts/install.sh --no-services   only what the run command needs: the venv with the
#                                      runtime dependencies (`pip install -e .`)
#
# The venv is installed again only when pyproject.toml changed since the last install
# (stamp files in .venv keep its hash: one for everything, one for the runtime only).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

with_services=1
for arg in "$@"; do
    case $arg in
    --no-services) with_services=0 ;;
    -h | --help)
        sed -n '2,10p' "${BASH_SOURCE[0]}"
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

full_stamp="$VENV/.ops-market-install"
run_stamp="$VENV/.ops-market-install-run"
wanted=$(cat "$REPO_ROOT/pyproject.toml" <("$PYTHON" --version) | sha256sum | cut -d' ' -f1)

stamp_is() { [[ -f $1 && $(cat "$1") == "$wanted" ]]; }

if [[ -x $VENV/bin/python ]]; then
    # Everything installed also serves the run command.
    stamp_is "$full_stamp" && exit 0
    ((!with_services)) && stamp_is "$run_stamp" && exit 0
fi

if [[ ! -x $VENV/bin/python ]]; then
    say "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ((with_services)); then
    say "pip install -e '.[dev]'"
    "$VENV/bin/pip" install --quiet -e "$REPO_ROOT[dev]"
    printf '%s\n' "$wanted" >"$full_stamp"
else
    # The runtime only (no test tools, browsers or type stubs), with pip's own
    # progress lines, so that a first run does not sit silent for minutes.
    say "pip install -e . (the portal's dependencies; a minute or two the first time)"
    if ! "$VENV/bin/pip" install --progress-bar on -e "$REPO_ROOT" |
        { grep --line-buffered -v '^Requirement already satisfied' || true; }; then
        die "pip install failed (see above)"
    fi
    printf '%s\n' "$wanted" >"$run_stamp"
fi
