"""git subprocesses: the one environment they run in and the one way a git URL is
shown in messages and logs.

The environment starts empty, not from the worker's own. A worker's environment
holds the database URL, storage keys and the Django secret; git passes its
environment on to ssh, credential helpers and remote helpers, none of which need
them. And git reads much of its behaviour from the environment and from files it
finds on its own: inherited ``GIT_DIR``/``GIT_INDEX_FILE``/``GIT_CONFIG_PARAMETERS``
would point it at another repository or inject configuration (``core.sshCommand``,
``credential.helper``, ``core.fsmonitor`` all run programs), and the machine's
system and user configuration (``/etc/gitconfig``, ``~/.gitconfig``,
``$XDG_CONFIG_HOME/git/config``, system attributes) would change its output. So
git always gets:

- ``PATH`` (to find git and ssh) and a ``HOME`` the caller chooses;
- no system or global configuration and no system attributes;
- no terminal prompt (a worker has none: fail instead of waiting for a password),
  and ssh in batch mode for the same reason unless the deployment picked its ssh;
- the C locale, so messages read the same everywhere;
- only the other variables the caller names (an ssh agent socket, a proxy), and
  never an inherited ``GIT_*`` variable apart from the deployment's ssh choice.

URLs may carry credentials (``https://user:password@host``, ``https://TOKEN@host``,
``?private_token=...``): ``redact_url`` is what goes into any message or log line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

# The only GIT_* variables a caller may pass through: how the deployment reaches its
# remote over ssh (a key, a known_hosts file), chosen outside Ops Market.
SSH_CHOICE = ("GIT_SSH", "GIT_SSH_COMMAND")
# Set by git_env and not to be overridden by a caller.
_FIXED = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}
DEFAULT_PATH = "/usr/bin:/bin"


def git_env(
    *,
    home: str | os.PathLike[str],
    keep: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for a git subprocess.

    1. ``PATH`` from this process, ``HOME`` as given (ssh reads ``~/.ssh`` there);
    2. each variable named in ``keep`` that this process has (``GIT_*`` names only
       from ``SSH_CHOICE``);
    3. ``extra`` (committer identity, ``GIT_ALLOW_PROTOCOL``, ...);
    4. the fixed isolation settings, which neither 2 nor 3 may change;
    5. ``ssh -o BatchMode=yes`` unless the deployment chose its ssh.
    """
    env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), "HOME": os.fspath(home)}
    for name in keep:
        if name.startswith("GIT_") and name not in SSH_CHOICE:
            raise ValueError(f"{name} must not be passed to git from the environment")
        if name in os.environ:
            env[name] = os.environ[name]
    for name, value in (extra or {}).items():
        if name in _FIXED or name in ("PATH", "HOME"):
            raise ValueError(f"{name} is set by git_env")
        env[name] = value
    env.update(_FIXED)
    if not any(name in env for name in SSH_CHOICE):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    return env


def redact_url(url: str) -> str:
    """``url`` with any user name, password or token replaced by ``***`` and any
    query string dropped (for messages and logs). A URL that cannot be parsed is
    shown as ``<url>``; a local path or scp-style ``host:path`` has nothing to hide
    and is returned as it is, except that a ``user:password@`` before it is redacted."""
    if "://" not in url:
        head, at, tail = url.rpartition("@")
        # scp-style git@host:path: a login name alone is not a secret, a password is.
        return f"***@{tail}" if at and ":" in head.split("/", 1)[0] else url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parses the port, raising ValueError when malformed
    except ValueError:
        return "<url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


__all__ = ["SSH_CHOICE", "git_env", "redact_url"]
