"""The deploy-target interface (SPEC section 6).

A target receives one :class:`Change` per operation and records it exactly once:
workers call it from Celery tasks that may be delivered twice or killed half-way,
so every method is idempotent by ``Change.operation_id`` and a redelivered change
answers ``Applied(created=False)`` with the reference recorded the first time.

The GitOps target (``deployments/targets/gitops.py``) writes commits; the Kubernetes
target (``deployments/targets/kubernetes/``) applies objects to a cluster.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from guards.paths import UnsafePath, safe_relative_path, shown_path
from guards.slugs import is_slug

KINDS = ("install", "upgrade", "rollback", "uninstall", "repair")

# App names and versions go into a commit subject: no whitespace, so that a version
# cannot smuggle words (or a forged trailer line) into the message.
_TOKEN = re.compile(r"^[A-Za-z0-9._+-]{1,128}$")
MAX_MANIFEST_PATH_BYTES = 1024


class TargetError(Exception):
    """The target refuses the change (a bad path, an unknown kind): retrying cannot help."""


class TargetUnavailable(TargetError):
    """A transient failure (lock timeout, push refused, git timed out): retry with backoff."""


@dataclass(frozen=True)
class Change:
    operation_id: str  # canonical uuid string of the Operation
    kind: str  # install | upgrade | rollback | uninstall
    namespace: str
    instance: str
    app: str
    version: str
    requested_by: str  # username, "token:<name>" or "system"


@dataclass(frozen=True)
class Applied:
    ref: str  # the commit sha for GitOps, the record's resourceVersion for Kubernetes
    created: bool  # False when the change had been applied already (a redelivery)
    summary: str = ""  # what was done, in words, for the operation step


class DeployTarget(Protocol):
    name: str

    def apply(self, change: Change, manifests: Mapping[str, str]) -> Applied:
        """Make ``<namespace>/<instance>`` hold exactly ``manifests`` (relative path -> text)."""
        ...

    def remove(self, change: Change) -> Applied:
        """Remove everything of ``<namespace>/<instance>``."""
        ...

    def find(self, operation_id: str, namespace: str = "", instance: str = "") -> str | None:
        """The reference recorded for ``operation_id`` of the instance, or None if it was
        never applied (the GitOps target finds it by id alone)."""
        ...

    def repair(self, namespace: str, instance: str) -> None:
        """Drop whatever a writer killed half-way left behind for the instance (the
        GitOps target repairs its whole working tree; a no-op where a change is
        atomic)."""
        ...

    def read(self, namespace: str, instance: str) -> dict[str, str]:
        """The manifests the target holds for the instance (relative path -> text)."""
        ...

    def holds(self, namespace: str, instance: str, manifests: Mapping[str, str]) -> bool:
        """Whether the target holds exactly ``manifests`` for the instance: the same
        paths with the same bytes, nothing more (what ``read`` would return)."""
        ...


# --- validation shared by every target ------------------------------------------------


def check_operation_id(operation_id: str) -> str:
    """``operation_id`` when it is a canonical uuid string, else TargetError.

    Canonical only (lowercase, dashed): a target looks the id up by exact text, so two
    spellings of one uuid must not count as two operations.
    """
    try:
        canonical = str(uuid.UUID(operation_id))
    except (ValueError, TypeError, AttributeError):
        raise TargetError(f"operation id {operation_id!r} is not a uuid") from None
    if canonical != operation_id:
        raise TargetError(f"operation id {operation_id!r} is not in canonical form")
    return operation_id


def check_name(what: str, value: str) -> str:
    # A namespace or instance name is one folder of the GitOps tree.
    if not is_slug(value):
        raise TargetError(f"{what} {value!r} is not a valid name")
    return value


def check_change(change: Change) -> Change:
    """Refuse a change whose fields could not be written safely into a path or a message."""
    check_operation_id(change.operation_id)
    if change.kind not in KINDS:
        raise TargetError(f"unknown change kind {change.kind!r}")
    check_name("namespace", change.namespace)
    check_name("instance", change.instance)
    for what, value in (("app", change.app), ("version", change.version)):
        if not isinstance(value, str) or not _TOKEN.fullmatch(value):
            raise TargetError(f"{what} {value!r} is not a valid {what}")
    requested_by = change.requested_by
    if (
        not isinstance(requested_by, str)
        or not requested_by.strip()
        or len(requested_by) > 200
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in requested_by)
    ):
        raise TargetError(f"requested_by {requested_by!r} is not a valid requester")
    return change


def check_manifest_path(path: str) -> str:
    """``path`` when it is a safe relative slash path (``guards.paths``) inside an
    instance folder, with no part starting with ``.git`` (``.git``, ``.gitmodules``,
    ``.gitattributes`` would change how git itself reads the repository)."""
    try:
        parts = safe_relative_path(path, max_bytes=MAX_MANIFEST_PATH_BYTES)
    except UnsafePath as error:
        shown = shown_path(path) if isinstance(path, str) else repr(path)
        raise TargetError(f"manifest path {shown!r}: {error.reason}") from None
    if any(part.lower().startswith(".git") for part in parts):
        raise TargetError(f"manifest path {path!r} names a git control file")
    return path


def check_manifests(manifests: Mapping[str, str]) -> dict[str, str]:
    """A checked copy of ``manifests``: every path safe, every value text, and no path
    that is also the folder of another (``a`` and ``a/b``), which no tree can hold."""
    checked: dict[str, str] = {}
    for path, text in manifests.items():
        check_manifest_path(path)
        if not isinstance(text, str):
            raise TargetError(f"manifest {path!r} is not text")
        checked[path] = text
    folders = {path.rsplit("/", 1)[0] for path in checked if "/" in path}
    # Every ancestor folder, not only the parent: "a" clashes with "a/b/c" too.
    ancestors = {
        "/".join(folder.split("/")[:depth])
        for folder in folders
        for depth in range(1, folder.count("/") + 2)
    }
    clashes = sorted(ancestors & checked.keys())
    if clashes:
        raise TargetError(f"manifest path {clashes[0]!r} is both a file and a folder")
    return checked
