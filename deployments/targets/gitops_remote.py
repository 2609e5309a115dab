"""The GitOps target's shared remote: several hosts, one ``main`` (SPEC section 12).

With ``GITOPS_REMOTE_URL`` set, each host keeps its own clone and the remote's ``main``
is the one truth. A write fetches it, builds its commit on the remote's tip and pushes;
a push refused because the tip moved (another host, or someone else) is redone on the
new tip. So a commit is never published on top of a stale tip, and nothing anyone
else pushed is ever overwritten: the remote only accepts fast-forwards.

The index of operations (``refs/operations/<id>``, see ``gitops.py``) stays local to
each host and is rebuilt from what it fetches: after every fetch, the commits new
since the last indexed tip (``INDEXED_REF``) are read once for their ``Operation-Id``
trailer. We chose that over pushing the index refs to the remote: the trailer is the
record the SPEC names, commits from any host (or pushed by a person carrying a
trailer) are indexed the same way, the remote holds nothing but ``main``, and a
history rewritten on the remote cannot leave a pushed ref pointing at a commit that
is gone. A local ref may still name a commit that is not on the remote (a commit
whose push failed, history adopted from before the remote): lookups check that the
commit is an ancestor of the tip they answer from.

This module holds the plumbing (fetch, push, indexing); the target's write path,
lock and retries are in ``gitops.py``.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from deployments.targets.base import TargetUnavailable
from market.storage.retry import RetryPolicy

BRANCH = "main"
REMOTE = "origin"
OPERATION_REFS = "refs/operations"
# The remote's main as of the last fetch or successful push.
TRACKING_REF = f"refs/remotes/{REMOTE}/{BRANCH}"
# The remote tip whose history is in the index: the next fetch reads only what is new.
INDEXED_REF = "refs/opsmarket/indexed"
# Redone on a moved tip up to this many times in one call, then TargetUnavailable and
# the workflow's own (longer) backoff. The waits are short: a refused push means the
# other host's push just landed, so the tip is quiet for a moment and the sooner the
# redo pushes the likelier it wins (a host waiting longer lets a busy host push again
# and again ahead of it). Jittered so that many hosts refused at once spread out.
PUSH_RETRY = RetryPolicy(attempts=20, base_delay=0.01, max_delay=0.25)

OPERATION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# sha, then the Operation-Id trailer's values; one record per commit.
_LOG_FORMAT = "--format=%H%x1f%(trailers:key=Operation-Id,valueonly,separator=%x2C)%x1e"
_MISSING_REMOTE_BRANCH = "couldn't find remote ref"


class Git(Protocol):
    """The target's git runner (``GitOpsTarget._git``)."""

    def __call__(
        self,
        *args: str,
        stdin: bytes | None = None,
        check: bool = True,
        timeout: float = ...,
    ) -> subprocess.CompletedProcess[bytes]: ...


@dataclass(frozen=True)
class Published:
    """Where the remote stands after a fetch.

    ``remote_tip`` is the remote's ``main``, None while the remote has none (a new, empty
    repository). ``base`` is what the next commit goes on: the remote tip, or the
    local ``main`` while the remote is empty, since the first push publishes it (the
    history of a host that ran without a remote before is kept that way)."""

    remote_tip: str | None
    base: str
    indexed_tip: str | None  # INDEXED_REF now


@dataclass(frozen=True)
class Fetched:
    tip: str | None  # the remote's main; None while it has none
    indexed_tip: str | None  # INDEXED_REF: the tip the index has caught up with


def remote_fetch(git: Git, *, timeout: float) -> Fetched:
    """Fetch the remote's ``main`` into ``TRACKING_REF``: its sha (None when the remote
    has no ``main`` yet) and the indexed tip. An unreachable remote raises
    TargetUnavailable (from the runner), its URL redacted."""
    try:
        git(
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-recurse-submodules",
            REMOTE,
            f"+refs/heads/{BRANCH}:{TRACKING_REF}",
            timeout=timeout,
        )
    except TargetUnavailable as error:
        if _MISSING_REMOTE_BRANCH not in str(error):
            raise
        # The remote was emptied, or never had main: forget what we saw of it.
        git("update-ref", "-d", TRACKING_REF)
    # Both refs in one git process: every write and read runs this.
    listed = git("for-each-ref", "--format=%(refname) %(objectname)", TRACKING_REF, INDEXED_REF)
    refs = dict(line.split(" ", 1) for line in listed.stdout.decode().splitlines())
    return Fetched(tip=refs.get(TRACKING_REF), indexed_tip=refs.get(INDEXED_REF))


def remote_push(git: Git, sha: str, *, timeout: float) -> str | None:
    """Push ``sha`` as the remote's ``main``; None when accepted, else git's reason.

    A plain push: the remote accepts only a fast-forward, so a tip another host moved
    meanwhile refuses it ("fetch first") and nothing of theirs is overwritten."""
    result = git(
        "push",
        "--quiet",
        "--porcelain",
        "--no-verify",
        REMOTE,
        f"{sha}:refs/heads/{BRANCH}",
        check=False,
        timeout=timeout,
    )
    if result.returncode == 0:
        return None
    lines = [
        *result.stdout.decode("utf-8", errors="replace").splitlines(),
        *result.stderr.decode("utf-8", errors="replace").splitlines(),
    ]
    # --porcelain: "!<TAB>src:dst<TAB>[rejected] (fetch first)" says why this ref failed.
    refused = [line.split("\t")[-1] for line in lines if line.startswith("!")]
    reasons = refused or [line for line in lines if line.strip()] or ["no reason given"]
    return reasons[-1].strip()


def remote_pushed(git: Git, *, sha: str, operation_id: str | None, published: Published) -> None:
    """Record a push of ``sha`` on top of ``published``: the tracking ref, the
    operation's index ref, and the indexed tip when the index had caught up with the
    base (else the next fetch indexes the whole history once). One transaction; a
    writer killed before it leaves work for the next fetch, nothing wrong."""
    updates = [f"update {TRACKING_REF} {sha}\n"]
    if operation_id is not None:
        updates.append(f"update {OPERATION_REFS}/{operation_id} {sha}\n")
    if published.indexed_tip == published.remote_tip:
        updates.append(f"update {INDEXED_REF} {sha}\n")
    git("update-ref", "--stdin", stdin="".join(updates).encode())


def index_fetched(git: Git, tip: str, indexed: str | None) -> int:
    """Index the operations of the commits reachable from ``tip`` and not from the last
    indexed tip ``indexed``; the number of refs written. Usually a handful: what other
    hosts pushed since this host last looked."""
    if indexed == tip:
        return 0
    revisions = [tip] if indexed is None else [tip, "--not", indexed]
    seen: set[str] = set()
    updates: list[str] = []
    for sha, operation_id in operation_commits(git, *revisions):
        # Newest first: an id on two commits (a cherry-pick) keeps the newest.
        if operation_id not in seen:
            seen.add(operation_id)
            updates.append(f"update {OPERATION_REFS}/{operation_id} {sha}\n")
    updates.append(f"update {INDEXED_REF} {tip}\n")
    git("update-ref", "--stdin", stdin="".join(updates).encode())
    return len(updates) - 1


def operation_commits(git: Git, *revisions: str) -> Iterable[tuple[str, str]]:
    """(sha, operation id) of every commit in ``git log <revisions>`` that carries one
    valid ``Operation-Id`` trailer, newest first."""
    output = git("log", _LOG_FORMAT, *revisions, "--").stdout.decode("utf-8", errors="replace")
    for record in output.split("\x1e"):
        sha, _, operation_id = record.strip().partition("\x1f")
        if OPERATION_ID.match(operation_id.strip()):
            yield sha, operation_id.strip()


def is_ancestor(git: Git, commit: str, tip: str) -> bool:
    """Whether ``commit`` is ``tip`` or in its history."""
    return git("merge-base", "--is-ancestor", commit, tip, check=False).returncode == 0
