"""The GitOps deploy target: one commit per operation in a git repository (SPEC section 6).

Every operation writes the rendered manifests of an instance at ``<namespace>/<instance>/``
as exactly one commit on ``main``; Argo CD or Flux applies the repository to clusters.

Invariants, for workers that run in several processes and may be SIGKILLed anywhere:

- One writer at a time: every write holds an exclusive ``flock`` on ``<repo_dir>.lock``
  from the repair of the tree to the push. Lock files never move, so the lock cannot
  be split between two files of the same name.
- Repair first: holding the lock proves that no other writer runs, so any git lock
  file under ``.git`` is left over from a killed process, and so is any change in the
  working tree. Both are discarded (the tree goes back to ``HEAD``) before anything else.
- Exactly one commit per operation: the operation is looked up under the lock before
  writing, so a redelivered or retried change finds its commit instead of making a
  second one; a change killed before its commit left nothing behind. The commit carries
  an ``Operation-Id`` trailer (the record) and gets a ref ``refs/operations/<id>``
  right after it (the index, so a lookup costs the same on a long history; see
  ``_index_head`` for why a killed writer cannot leave the index incomplete).
- Several hosts (SPEC section 12): with a remote, the remote's ``main`` is the truth
  and each host's repository a clone of it. A write fetches, looks the operation up
  in what it fetched (another host may have made its commit), builds its one commit on
  the remote's tip and pushes; a push refused because the tip moved is redone on the
  new tip (``gitops_remote``). The local lock still makes one writer per host; the
  remote, which accepts only fast-forwards, orders the hosts. A commit whose push
  failed is never counted as made: the next write starts again from the remote's tip
  and the retry commits anew. ``read``, ``holds``, ``find`` and ``history`` fetch
  first and answer from the remote's tip.
- Foreign content: with a remote, others' commits (or an adopted repository) reach the
  working tree. Symlinks are checked out as plain files (``core.symlinks=false``), the
  repository's own ``info/attributes`` switches off every filter and line-ending
  conversion a committed ``.gitattributes`` could ask for, ``add --force`` ignores a
  committed ``.gitignore``, and a namespace path that is not a plain folder is refused.

git runs as a subprocess with argument lists (never a shell), in the environment of
``guards.git.git_env``: the machine's global and system configuration ignored, so nothing
outside the repository changes its output, and none of the worker's secrets passed on.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from deployments.targets.base import (
    Applied,
    Change,
    TargetError,
    TargetUnavailable,
    check_change,
    check_manifests,
    check_name,
    check_operation_id,
)
from deployments.targets.gitops_remote import (
    BRANCH,
    INDEXED_REF,
    OPERATION_ID,
    OPERATION_REFS,
    PUSH_RETRY,
    REMOTE,
    TRACKING_REF,
    Published,
    index_fetched,
    is_ancestor,
    operation_commits,
    remote_fetch,
    remote_push,
    remote_pushed,
)
from guards.git import SSH_CHOICE, git_env, redact_url
from guards.locks import LockError, LockTimeout, exclusive_lock
from market.storage.retry import RetryPolicy

COMMITTER_NAME = "Ops Market"
COMMITTER_EMAIL = "ops-market@localhost"
AUTHOR_EMAIL_DOMAIN = "ops-market.invalid"
INITIAL_MESSAGE = "Initialise the Ops Market GitOps repository\n"
# One ref per recorded operation (OPERATION_REFS), pointing at its commit: the lookup
# index of find(). Local only: pushes send main alone (see gitops_remote).
# Set in the repository's own config at creation: proves the folder is ours to repair.
MARKER_KEY = "opsmarket.repository"
MARKER_VALUE = "gitops"

LOCK_TIMEOUT_SECONDS = 60.0
# Local commands include a foreground `gc --auto` now and then; pushes cross a network.
GIT_TIMEOUT_SECONDS = 300.0
PUSH_TIMEOUT_SECONDS = 120.0

# What of the worker's environment reaches git, so that a deployment reaches its
# remote as it chose: its ssh agent, proxy and CA bundle. Nothing else (no secrets).
REMOTE_ACCESS_VARIABLES = (
    *SSH_CHOICE,
    "SSH_AUTH_SOCK",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)

# Lock files git itself leaves behind when killed while writing; under our flock
# none of them can belong to a live process (gc runs in the foreground, see _init).
_STALE_GIT_LOCKS = (
    "index.lock",
    "HEAD.lock",
    "ORIG_HEAD.lock",
    "config.lock",
    "packed-refs.lock",
    f"refs/heads/{BRANCH}.lock",
    f"{TRACKING_REF}.lock",
    f"{INDEXED_REF}.lock",
)
# Git reads these before a committed .gitattributes: no filter, no conversion, so the
# bytes committed are the bytes written (and holds() can compare blob ids).
NEUTRAL_ATTRIBUTES = "* -text -eol -filter -ident -working-tree-encoding\n"
_EMAIL_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_NAME_UNSAFE = re.compile(r"[<>\x00-\x1f\x7f]+")


class GitOpsTarget:
    """A git repository at ``repo_dir`` (created on first use); with ``remote_url``, this
    host's clone of the remote's ``main``, which every commit is pushed to.

    ``pause_before_commit`` exists ONLY for fault tests: it sleeps that many seconds
    after the files of a change are written and staged and before the commit, so a
    test can SIGKILL the worker at the worst moment. It is 0 in every real deployment.
    """

    name = "gitops"

    def __init__(
        self,
        repo_dir: Path,
        remote_url: str | None = None,
        *,
        pause_before_commit: float = 0.0,
        lock_timeout: float = LOCK_TIMEOUT_SECONDS,
        push_timeout: float = PUSH_TIMEOUT_SECONDS,
        push_retry: RetryPolicy = PUSH_RETRY,
    ) -> None:
        if remote_url is not None and (not remote_url or remote_url.startswith("-")):
            # A leading dash would read as an option to git.
            raise TargetError(f"invalid GitOps remote url {redact_url(remote_url)!r}")
        self.repo_dir = Path(repo_dir).absolute()
        self.lock_path = self.repo_dir.with_name(self.repo_dir.name + ".lock")
        self.remote_url = remote_url
        self.pause_before_commit = pause_before_commit
        self.lock_timeout = lock_timeout
        # Each fetch and each push is bounded by it: both cross a network.
        self.push_timeout = push_timeout
        self.push_retry = push_retry
        self._env = _git_env()
        self._ours = False
        self._remote_set = False

    def __repr__(self) -> str:
        return f"GitOpsTarget({str(self.repo_dir)!r}, remote_url={self._shown_remote()!r})"

    # --- the DeployTarget interface ----------------------------------------------------

    def apply(self, change: Change, manifests: Mapping[str, str]) -> Applied:
        """Write exactly ``manifests`` at ``<namespace>/<instance>/`` as one commit.

        Steps, all under the repository lock:
        1. repair the repository (stale git locks, dirty tree) and create it if missing;
        2. with a remote, fetch its ``main`` and index the operations new in it;
        3. if the operation has its commit already (a redelivery, on this host or
           another), return it;
        4. replace the instance folder with ``manifests`` (on the remote's tip) and
           stage it;
        5. commit (empty when nothing changed: every operation has its commit);
        6. with a remote, push; if the remote's tip moved meanwhile, fetch and go
           back to 3, a few times with jittered waits, then TargetUnavailable.
        """
        check_change(change)
        if change.kind == "uninstall":
            raise TargetError("an uninstall is recorded with remove(), not apply()")
        checked = check_manifests(manifests)
        return self._record(change, checked)

    def remove(self, change: Change) -> Applied:
        """Delete the whole ``<namespace>/<instance>/`` folder as one commit (the same
        steps as :meth:`apply`); an absent folder still gets its (empty) commit."""
        check_change(change)
        if change.kind != "uninstall":
            raise TargetError(f"remove() records an uninstall, not {change.kind!r}")
        return self._record(change, None)

    def find(self, operation_id: str, namespace: str = "", instance: str = "") -> str | None:
        """The sha of the commit recorded for ``operation_id``, or None. With a remote,
        looked up in the remote's history after a fetch: another host's commit counts."""
        check_operation_id(operation_id)
        if self.remote_url:
            with self._locked():
                self._prepare(repair_tree=False)
                return self._find_commit(operation_id, within=self._sync().base)
        if not self._has_head():
            return None
        return self._find_commit(operation_id)

    def repair(self, namespace: str = "", instance: str = "") -> None:
        """Put the working tree back to HEAD: what a writer killed before its commit
        left there is dropped. Every write does this first; the engine calls it when
        it fails an operation whose apply never committed."""
        with self._locked():
            self._prepare()

    def read(self, namespace: str, instance: str) -> dict[str, str]:
        """The files committed under ``<namespace>/<instance>/`` (at HEAD, or at the
        remote's ``main`` after a fetch), by path relative to that folder. Read from git
        objects, so a writer's half-written working tree never shows."""
        folder = _folder(namespace, instance)
        tip = self._published_tip()
        if tip is None:
            return {}
        listing = self._git("ls-tree", "-r", "-z", "--full-tree", tip, "--", f"{folder}/")
        entries: list[tuple[str, str]] = []
        for record in listing.stdout.split(b"\0"):
            if not record:
                continue
            meta, _, path = record.partition(b"\t")
            _mode, kind, sha = meta.decode().split()
            if kind == "blob":
                entries.append((path.decode("utf-8")[len(folder) + 1 :], sha))
        if not entries:
            return {}
        blobs = self._git(
            "cat-file", "--batch", stdin="".join(f"{sha}\n" for _, sha in entries).encode()
        ).stdout
        files: dict[str, str] = {}
        offset = 0
        for relative, _sha in entries:
            # Each answer is "<sha> blob <size>\n<content>\n".
            header_end = blobs.index(b"\n", offset)
            size = int(blobs[offset:header_end].split()[2])
            start = header_end + 1
            files[relative] = blobs[start : start + size].decode("utf-8", errors="replace")
            offset = start + size + 1
        return files

    def holds(self, namespace: str, instance: str, manifests: Mapping[str, str]) -> bool:
        """Compared by git's own object ids at ``HEAD`` (the remote's ``main`` after a
        fetch, with a remote): one ``ls-tree`` and no file contents, where ``read``
        needs a second git call to fetch every blob."""
        folder = _folder(namespace, instance)
        # Without a remote, no has-HEAD check first (a git call on every verify): with
        # no HEAD yet (a missing repository or one with no commit) git exits non-zero.
        tip = self._published_tip() if self.remote_url else "HEAD"
        held: dict[str, str] = {}
        if tip is not None:
            listing = self._git(
                "ls-tree", "-r", "-z", "--full-tree", tip, "--", f"{folder}/", check=False
            )
            if listing.returncode == 0:
                for record in listing.stdout.split(b"\0"):
                    if record:
                        meta, _, path = record.partition(b"\t")
                        _mode, _kind, sha = meta.decode().split()
                        held[path.decode("utf-8")[len(folder) + 1 :]] = sha
        return held == {path: _blob_id(text) for path, text in manifests.items()}

    # --- extras of the GitOps target -----------------------------------------------

    def history(
        self, namespace: str, instance: str, *, limit: int | None = None
    ) -> list[dict[str, str]]:
        """The operations recorded for an instance, newest first: dicts with ``sha``,
        ``subject``, ``operation_id``, ``requested_by`` and ``date`` (ISO 8601).

        Found by subject, not by ``git log -- <folder>``: an empty commit (a rollback to
        identical manifests, removing an absent folder) touches no path, yet it is one
        of the instance's operations.
        """
        folder = _folder(namespace, instance)
        tip = self._published_tip()
        if tip is None:
            return []
        args = [
            "log",
            "-E",
            # The folder is two checked slugs: nothing in it is special to a regex.
            f"--grep=^(install|upgrade|rollback|uninstall) {folder} ",
            "--format=%H%x1f%s%x1f%cI%x1f%(trailers:key=Operation-Id,valueonly,separator=%x2C)"
            "%x1f%(trailers:key=Requested-by,valueonly,separator=%x2C)%x1e",
        ]
        if limit is not None:
            args.append(f"-n{int(limit)}")
        output = self._git(*args, tip, "--").stdout.decode("utf-8", errors="replace")
        history: list[dict[str, str]] = []
        for record in output.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, subject, date, operation_id, requested_by = record.split("\x1f")
            if subject.split(" ")[1:2] != [folder]:
                continue
            history.append(
                {
                    "sha": sha,
                    "subject": subject,
                    "operation_id": operation_id.strip(),
                    "requested_by": requested_by.strip(),
                    "date": date,
                }
            )
        return history

    def push(self) -> None:
        """Publish the local ``main`` to a remote that has no ``main`` yet (its history
        becomes the remote's). Otherwise there is nothing to push: every write pushes
        its own commit. TargetUnavailable when the remote cannot be reached."""
        if not self.remote_url:
            return
        with self._locked():
            self._prepare(repair_tree=False)
            published = self._sync()
            if published.remote_tip is None:
                refused = remote_push(self._git, published.base, timeout=self.push_timeout)
                if refused is not None:
                    raise TargetUnavailable(self._push_failed(refused))
                remote_pushed(self._git, sha=published.base, operation_id=None, published=published)

    def reindex(self) -> int:
        """Write the index ref of every commit that carries an Operation-Id trailer; the
        number written. Only for a repository adopted from elsewhere (history written
        before its index): Ops Market's own writes keep the index complete. With a
        remote, the remote's whole history is read again."""
        with self._locked():
            if self.remote_url:
                self._prepare(repair_tree=False)
                self._git("update-ref", "-d", INDEXED_REF)
                tip = remote_fetch(self._git, timeout=self.push_timeout).tip
                if tip is not None:
                    return index_fetched(self._git, tip, None)
            else:
                self._prepare()
            existing = set(
                self._git("for-each-ref", "--format=%(refname)", OPERATION_REFS)
                .stdout.decode()
                .split()
            )
            updates = []
            # Newest first: a (foreign) id on two commits keeps the newest.
            for sha, operation_id in operation_commits(self._git, "HEAD"):
                ref = f"{OPERATION_REFS}/{operation_id}"
                if ref not in existing:
                    existing.add(ref)
                    updates.append(f"create {ref} {sha}\n")
            if updates:
                self._git("update-ref", "--stdin", stdin="".join(updates).encode())
            return len(updates)

    # --- the write path --------------------------------------------------------------

    def _record(self, change: Change, manifests: dict[str, str] | None) -> Applied:
        if self.remote_url:
            return self._record_remote(change, manifests)
        with self._locked():
            self._prepare()
            existing = self._find_commit(change.operation_id)
            if existing is not None:
                # A redelivery, or a retry after a crash: the commit is there.
                return Applied(ref=existing, created=False)
            sha = self._commit_change(change, manifests)
            # Killed here, the commit lacks its ref: the next lock holder writes it.
            self._git("update-ref", f"{OPERATION_REFS}/{change.operation_id}", sha)
            return Applied(ref=sha, created=True)

    def _record_remote(self, change: Change, manifests: dict[str, str] | None) -> Applied:
        """The write path with a remote (steps 2-6 of :meth:`apply`).

        Only a commit the remote accepted counts as made: one whose push failed stays
        in the local history until the next write resets it away, unindexed, so the
        retry commits again. The exception is a remote with no ``main`` yet, where
        the local ``main`` is what the first push publishes (``Published.base``)."""
        with self._locked():
            self._prepare(repair_tree=False)
            published = self._sync()
            for attempt in range(self.push_retry.attempts):
                existing = self._find_commit(change.operation_id, within=published.base)
                if existing is not None and published.remote_tip is not None:
                    # Made before, by this host or another: it is on the remote.
                    return Applied(ref=existing, created=False)
                if existing is None:
                    self._reset(published.base)
                    sha = self._commit_change(change, manifests)
                    if published.remote_tip is None:
                        # The local main will be published as it is: index it now.
                        self._git("update-ref", f"{OPERATION_REFS}/{change.operation_id}", sha)
                else:
                    sha = published.base  # the operation's commit is in it, never pushed
                refused = remote_push(self._git, sha, timeout=self.push_timeout)
                if refused is None:
                    new = change.operation_id if existing is None else None
                    remote_pushed(self._git, sha=sha, operation_id=new, published=published)
                    return Applied(ref=existing or sha, created=existing is None)
                self.push_retry.sleep(self.push_retry.delay(attempt))
                previous, published = published, self._sync()
                if published.remote_tip == previous.remote_tip:
                    # Refused with the tip where it was: not a race (a hook, rights).
                    raise TargetUnavailable(self._push_failed(refused))
            raise TargetUnavailable(
                f"the remote's {BRANCH} moved under each of {self.push_retry.attempts} "
                f"pushes in a row ({self._shown_remote()}); trying again later"
            )

    def _commit_change(self, change: Change, manifests: dict[str, str] | None) -> str:
        """Replace the instance folder in the working tree, stage it, commit; the sha."""
        folder = _folder(change.namespace, change.instance)
        self._write_folder(folder, manifests)
        if (self.repo_dir / folder).exists():
            # --force: a .gitignore someone committed must not drop a manifest.
            self._git("add", "--all", "--force", "--", folder)
        else:
            # `git add` refuses a path that matches nothing (an absent folder).
            self._git("rm", "-r", "--quiet", "--cached", "--ignore-unmatch", "--", folder)
        if self.pause_before_commit > 0:
            # Fault tests only (see the class docstring).
            time.sleep(self.pause_before_commit)
        self._commit(change)
        return self._git("rev-parse", "--verify", "HEAD").stdout.decode().strip()

    def _write_folder(self, folder: str, manifests: dict[str, str] | None) -> None:
        namespace_dir = self.repo_dir / folder.split("/", 1)[0]
        if namespace_dir.is_symlink() or (namespace_dir.exists() and not namespace_dir.is_dir()):
            # Only reachable through a commit someone else made (Ops Market writes
            # folders): writing through a link could land outside the repository.
            raise TargetError(
                f"{namespace_dir.name} in the GitOps repository is a file, not a folder; "
                "remove it from the repository to deploy into that namespace"
            )
        target = self.repo_dir / folder
        # The tree equals a commit here (see _prepare/_reset) and symlinks are checked
        # out as plain files (core.symlinks=false): nothing on this path is a link.
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        if manifests is None:
            return
        for relative, text in manifests.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))

    def _commit(self, change: Change) -> None:
        message = (
            f"{change.kind} {change.namespace}/{change.instance} {change.app}@{change.version}\n"
            "\n"
            f"Requested-by: {change.requested_by}\n"
            f"Operation-Id: {change.operation_id}\n"
        )
        env = {
            "GIT_AUTHOR_NAME": author_name(change.requested_by),
            "GIT_AUTHOR_EMAIL": author_email(change.requested_by),
        }
        self._git(
            "commit",
            "--quiet",
            "--allow-empty",
            "--no-verify",
            "--cleanup=verbatim",
            "--file=-",
            stdin=message.encode("utf-8"),
            env=env,
        )

    def _find_commit(self, operation_id: str, *, within: str | None = None) -> str | None:
        """The commit of ``operation_id``: its index ref, or HEAD when HEAD is that
        operation's commit and its ref was not written yet (see _index_head).

        ``within`` (with a remote): only a commit in that tip's history counts; a ref
        may name a commit that never reached the remote (see gitops_remote)."""
        ref = self._git(
            "rev-parse",
            "--verify",
            "--quiet",
            f"{OPERATION_REFS}/{operation_id}^{{commit}}",
            check=False,
        )
        if ref.returncode == 0:
            sha = ref.stdout.decode().strip()
            if within is None or is_ancestor(self._git, sha, within):
                return sha
            return None
        if within is not None:
            return None  # _sync indexed everything up to ``within``
        head_sha, head_operation = self._head_operation()
        return head_sha if head_operation == operation_id else None

    def _head_operation(self) -> tuple[str, str | None]:
        """(sha, Operation-Id trailer) of HEAD; None for a commit without a valid one."""
        output = self._git(
            "log",
            "-1",
            "--format=%H%x1f%(trailers:key=Operation-Id,valueonly,separator=%x2C)",
            "HEAD",
            "--",
        ).stdout.decode()
        sha, _, operation_id = output.strip().partition("\x1f")
        operation_id = operation_id.strip()
        return sha, operation_id if OPERATION_ID.match(operation_id) else None

    def _index_head(self) -> str:
        """Give HEAD's operation its index ref if a killed writer did not; HEAD's sha.

        Writers commit, then write the ref, all under the lock, and each lock holder
        runs this first: so every commit but HEAD has its ref, and a lookup needs the
        ref and HEAD only. This is what keeps ``find`` O(1): a trailer search with
        ``git log --grep`` reads every commit message on a miss, which is the usual case
        (a new operation), about 15 ms per thousand commits, under the lock.
        """
        sha, operation_id = self._head_operation()
        if operation_id is None:
            return sha
        ref = f"{OPERATION_REFS}/{operation_id}"
        if self._git("rev-parse", "--verify", "--quiet", ref, check=False).returncode != 0:
            self._git("update-ref", ref, sha)
        return sha

    # --- the remote ------------------------------------------------------------------

    def _sync(self, *, index: bool = True) -> Published:
        """Under the lock: fetch the remote's ``main`` and (unless only reading files)
        index what is new in it (``gitops_remote``). While the remote has none, the
        local ``main`` stands in for it and is indexed as without a remote."""
        try:
            fetched = remote_fetch(self._git, timeout=self.push_timeout)
        except TargetUnavailable as error:
            raise TargetUnavailable(f"{error} ({self._shown_remote()})") from None
        if fetched.tip is None:
            head = self._index_head() if index else "HEAD"
            return Published(remote_tip=None, base=head, indexed_tip=fetched.indexed_tip)
        if not index:
            return Published(fetched.tip, fetched.tip, indexed_tip=fetched.indexed_tip)
        index_fetched(self._git, fetched.tip, fetched.indexed_tip)
        return Published(remote_tip=fetched.tip, base=fetched.tip, indexed_tip=fetched.tip)

    def _published_tip(self) -> str | None:
        """The commit reads answer from: HEAD without a remote (None before the first
        commit); with one, the remote's ``main`` fetched now, under the lock (the
        fetch writes refs another writer of this host may be writing)."""
        if not self.remote_url:
            return "HEAD" if self._has_head() else None
        with self._locked():
            self._prepare(repair_tree=False)
            return self._sync(index=False).base

    def _reset(self, tip: str) -> None:
        """Make ``main``, the index and the working tree ``tip`` exactly."""
        self._git("reset", "--hard", "--quiet", tip)
        self._git("clean", "-ffdxq")

    def _shown_remote(self) -> str | None:
        return redact_url(self.remote_url) if self.remote_url else None

    def _push_failed(self, reason: str) -> str:
        if self.remote_url:
            reason = reason.replace(self.remote_url, redact_url(self.remote_url))
        return f"git push failed: {reason} ({self._shown_remote()})"

    # --- repository state ------------------------------------------------------------

    def _prepare(self, *, repair_tree: bool = True) -> None:
        """Under the lock: create the repository if needed, else repair what a killed
        writer left behind. With ``repair_tree``, the tree equals HEAD afterwards; the
        write path with a remote resets it onto the remote's tip instead (_reset)."""
        git_dir = self.repo_dir / ".git"
        if not git_dir.is_dir():
            if self.repo_dir.is_dir() and any(self.repo_dir.iterdir()):
                # Repairs delete untracked files: never take over a folder of someone's.
                raise TargetError(
                    f"{self.repo_dir} is not empty and not a git repository; "
                    "GITOPS_DIR must name an empty or missing folder"
                )
            self._init()
        elif not self._has_head():
            # Killed during its own creation (no commit yet): finish it. Only a folder
            # holding nothing but .git: git init on an existing repository is harmless.
            if any(path.name != ".git" for path in self.repo_dir.iterdir()):
                raise TargetError(f"{self.repo_dir} holds files but no commit")
            self._init()
        else:
            self._check_ours()
            for name in _STALE_GIT_LOCKS:
                (git_dir / name).unlink(missing_ok=True)
            if repair_tree:
                self._git("reset", "--hard", "--quiet", "HEAD")
                self._git("clean", "-ffdxq")
                if not self.remote_url:
                    # With a remote, HEAD may be a commit whose push failed: _sync
                    # indexes what the remote holds instead.
                    self._index_head()
        if self.remote_url and not self._remote_set:
            key = f"remote.{REMOTE}.url"
            current = self._git("config", "--get", key, check=False).stdout.decode().strip()
            if current != self.remote_url:
                self._git("config", key, self.remote_url)
            self._remote_set = True  # the repository is ours: nobody else changes it

    def _check_ours(self) -> None:
        # Each repair resets and cleans the tree: refuse a repository that Ops Market did
        # not create (GITOPS_DIR pointed at a checkout by mistake). An operator adopts an
        # existing one on purpose with `git config opsmarket.repository gitops`.
        if self._ours:
            return
        marker = self._git("config", "--get", MARKER_KEY, check=False).stdout.decode().strip()
        if marker != MARKER_VALUE:
            raise TargetError(
                f"{self.repo_dir} is not an Ops Market GitOps repository "
                f"(no {MARKER_KEY}={MARKER_VALUE} in its .git/config)"
            )
        # Once per process, for repositories created before these settings existed.
        self._neutralise_foreign_content()
        self._ours = True

    def _neutralise_foreign_content(self) -> None:
        """Settings that keep what others commit (through a remote, or in an adopted
        repository) from changing what a checkout or a commit of ours does: see the
        module docstring, "Foreign content"."""
        self._git("config", "core.symlinks", "false")
        attributes = self.repo_dir / ".git" / "info" / "attributes"
        if not attributes.is_file() or attributes.read_text() != NEUTRAL_ATTRIBUTES:
            attributes.parent.mkdir(exist_ok=True)
            attributes.write_text(NEUTRAL_ATTRIBUTES)

    def _init(self) -> None:
        self.repo_dir.mkdir(parents=True, exist_ok=True)
        git_dir = self.repo_dir / ".git"
        for name in _STALE_GIT_LOCKS:
            (git_dir / name).unlink(missing_ok=True)
        self._git("init", "--quiet", f"--initial-branch={BRANCH}", str(self.repo_dir))
        for key, value in (
            ("user.name", COMMITTER_NAME),
            ("user.email", COMMITTER_EMAIL),
            # gc in the foreground, inside our lock: a detached gc outliving the worker
            # would race the next writer's repair (which removes git lock files).
            ("gc.autoDetach", "false"),
            ("maintenance.autoDetach", "false"),
            ("commit.gpgSign", "false"),
            ("core.hooksPath", os.devnull),
            (MARKER_KEY, MARKER_VALUE),
        ):
            self._git("config", key, value)
        self._neutralise_foreign_content()
        # An index half-written by a killed init would go into the initial commit.
        self._git("read-tree", "--empty")
        # git treats the empty tree as always present and would not store it, leaving
        # the initial commit pointing at an object fsck reports missing: store it.
        self._git("mktree", stdin=b"")
        self._git(
            "commit",
            "--quiet",
            "--allow-empty",
            "--no-verify",
            "--file=-",
            stdin=INITIAL_MESSAGE.encode(),
        )
        self._ours = True
        self._remote_set = False  # a new repository: the remote is set after this

    def _has_head(self) -> bool:
        if not (self.repo_dir / ".git").is_dir():
            return False
        result = self._git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        return result.returncode == 0

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The exclusive writer lock (``guards.locks``), given up after ``lock_timeout``
        seconds as transient: the writer holding it may finish, a retry may get it."""
        try:
            with exclusive_lock(self.lock_path, timeout=self.lock_timeout):
                yield
        except LockTimeout:
            raise TargetUnavailable(
                f"timed out after {self.lock_timeout:.0f}s waiting for the "
                f"GitOps repository lock {self.lock_path}"
            ) from None
        except LockError as error:
            raise TargetUnavailable(str(error)) from None

    def _git(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = GIT_TIMEOUT_SECONDS,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git in the repository. A failure or timeout raises TargetUnavailable: git
        refusing our own well-formed commands means the disk, a lock or the network."""
        run_env = {**self._env, **(env or {})}
        if args[0] != "init":
            # Explicit, so git never discovers an enclosing repository (the data folder
            # may sit inside a checkout). Not for init: it would record core.worktree.
            run_env["GIT_DIR"] = str(self.repo_dir / ".git")
            run_env["GIT_WORK_TREE"] = str(self.repo_dir)
        try:
            result = subprocess.run(  # noqa: S603 - an argument list, no shell
                ["git", *args],  # noqa: S607 - git from PATH, like every other tool
                input=stdin,
                capture_output=True,
                cwd=self.repo_dir if self.repo_dir.is_dir() else self.repo_dir.parent,
                env=run_env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TargetUnavailable(f"git {args[0]} timed out after {timeout:.0f}s") from None
        except OSError as error:
            raise TargetUnavailable(f"cannot run git: {error.strerror}") from None
        if check and result.returncode != 0:
            detail = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
            # git explains over several lines ("fatal: '<url>' does not appear to be a
            # git repository", ..., "and the repository exists."): the first fatal: or
            # error: line says what failed.
            said = [line for line in detail if line.startswith(("fatal:", "error:"))]
            last = (said[:1] or detail[-1:] or [f"exit status {result.returncode}"])[0]
            if self.remote_url:
                last = last.replace(self.remote_url, redact_url(self.remote_url))
            raise TargetUnavailable(f"git {args[0]} failed: {last}")
        return result


# --- helpers ---------------------------------------------------------------------------


def _blob_id(text: str) -> str:
    """The id git gives a file holding ``text`` as UTF-8 (the bytes apply writes)."""
    data = text.encode("utf-8")
    # SHA-1 because git's object ids are SHA-1: an id to compare with, not a signature.
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _folder(namespace: str, instance: str) -> str:
    return f"{check_name('namespace', namespace)}/{check_name('instance', instance)}"


def _git_env() -> dict[str, str]:
    """The environment git runs in (``guards.git``): the worker's HOME (ssh keys and
    known_hosts live there) and REMOTE_ACCESS_VARIABLES; our committer."""
    return git_env(
        home=os.path.expanduser("~"),
        keep=REMOTE_ACCESS_VARIABLES,
        extra={"GIT_COMMITTER_NAME": COMMITTER_NAME, "GIT_COMMITTER_EMAIL": COMMITTER_EMAIL},
    )


def author_name(requested_by: str) -> str:
    name = _NAME_UNSAFE.sub("", requested_by).strip(" .,:;\"'")
    return name or "unknown"


def author_email(requested_by: str) -> str:
    local = _EMAIL_UNSAFE.sub("-", requested_by).strip(".-")
    return f"{local or 'unknown'}@{AUTHOR_EMAIL_DOMAIN}"
