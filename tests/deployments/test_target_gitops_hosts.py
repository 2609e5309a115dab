"""The GitOps target on several hosts (SPEC section 12): each host its own clone, one
bare remote whose ``main`` is the truth.

Real git throughout: bare remotes on disk, hosts as GitOpsTarget objects with their
own folders (their own locks), concurrent hosts as spawned OS processes, and "someone
else" as a plain git clone committing and pushing by hand. No database.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from deployments.targets import Applied, GitOpsTarget, TargetError, TargetUnavailable
from market.storage.retry import RetryPolicy
from tests.deployments.gitops_workers import apply_many, make_change, manifests_for
from tests.deployments.test_target_gitops import bare_remote, git, status

JOIN_SECONDS = 180


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare_remote(tmp_path / "remote.git")


def host(tmp_path: Path, name: str, remote: Path, **options: Any) -> GitOpsTarget:
    """A host: its own data folder, the shared remote."""
    return GitOpsTarget(tmp_path / name / "gitops", remote_url=str(remote), **options)


def someone_else_commits(
    tmp_path: Path,
    remote: Path,
    files: dict[str, str],
    message: str,
    links: dict[str, str] | None = None,
) -> str:
    """A person's commit from a clone of their own, pushed (rebased and pushed again
    when the remote moved meanwhile, as a person would); the sha pushed."""
    clone = tmp_path / f"person-{time.monotonic_ns()}"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    for relative, text in files.items():
        (clone / relative).parent.mkdir(parents=True, exist_ok=True)
        (clone / relative).write_text(text)
    for relative, pointing_at in (links or {}).items():
        (clone / relative).symlink_to(pointing_at)
    identity = ("-c", "user.name=Pat", "-c", "user.email=pat@example.org")
    git(clone, "add", "--all", "--force")
    git(clone, *identity, "commit", "-q", "-m", message)
    for _ in range(20):
        try:
            git(clone, "push", "-q", "origin", "HEAD:main")
            return git(clone, "rev-parse", "HEAD").strip()
        except Exception:
            git(clone, *identity, "pull", "-q", "--rebase", "origin", "main")
    raise AssertionError("someone else could not push")


def remote_log(remote: Path) -> list[tuple[str, str, str]]:
    """(sha, subject, Operation-Id) of the remote's main, oldest first."""
    output = git(
        remote,
        "log",
        "--reverse",
        "--format=%H%x1f%s%x1f%(trailers:key=Operation-Id,valueonly)%x1e",
        "main",
    )
    records = [record.strip("\n") for record in output.split("\x1e") if record.strip()]
    return [tuple(record.split("\x1f")) for record in records]  # type: ignore[misc]


def operation_ids(remote: Path) -> list[str]:
    return [operation_id.strip() for _, _, operation_id in remote_log(remote) if operation_id]


def remote_files(remote: Path) -> list[str]:
    return git(remote, "ls-tree", "-r", "--name-only", "main").splitlines()


def assert_linear(remote: Path) -> None:
    assert git(remote, "rev-list", "--merges", "main") == ""
    git(remote, "fsck", "--strict", "--no-progress")


# --- one remote, two hosts -------------------------------------------------------------


def test_a_redelivery_on_the_other_host_finds_the_commit_and_writes_nothing(
    tmp_path: Path, remote: Path
) -> None:
    first, second = host(tmp_path, "host-1", remote), host(tmp_path, "host-2", remote)
    change = make_change()
    manifests = manifests_for("web", "1.0.0")
    applied = first.apply(change, manifests)
    before = remote_log(remote)

    # The same operation on the other host (a redelivery taken by another worker),
    # even with other content: the commit on the remote stands.
    again = second.apply(change, {"other.yaml": "x"})

    assert again == Applied(ref=applied.ref, created=False)
    assert remote_log(remote) == before
    assert operation_ids(remote) == [change.operation_id]
    assert second.find(change.operation_id) == applied.ref
    assert second.read("team-a", "web") == manifests
    assert second.holds("team-a", "web", manifests)
    assert second.find(make_change().operation_id) is None
    # The next operation on the second host goes on top of the first host's commit.
    upgrade = make_change("upgrade", version="2.0.0")
    upgraded = second.apply(upgrade, manifests_for("web", "2.0.0"))
    assert [sha for sha, _, _ in remote_log(remote)][-2:] == [applied.ref, upgraded.ref]
    assert first.read("team-a", "web") == manifests_for("web", "2.0.0")
    assert [entry["operation_id"] for entry in first.history("team-a", "web")] == [
        upgrade.operation_id,
        change.operation_id,
    ]


def test_a_host_that_lost_its_folder_finds_its_own_pushed_commit(
    tmp_path: Path, remote: Path
) -> None:
    # Pushed, then the host's disk is gone before the operation was marked done.
    change = make_change()
    applied = host(tmp_path, "host-1", remote).apply(change, {"a.yaml": "a"})

    reborn = host(tmp_path, "host-1-new-disk", remote)
    assert reborn.apply(change, {"a.yaml": "a"}) == Applied(ref=applied.ref, created=False)
    assert operation_ids(remote) == [change.operation_id]


def test_a_commit_someone_else_pushed_is_kept(tmp_path: Path, remote: Path) -> None:
    target = host(tmp_path, "host-1", remote)
    target.apply(make_change(), {"a.yaml": "a"})
    theirs = someone_else_commits(
        tmp_path, remote, {"README.md": "# Our clusters\n"}, "Add a README"
    )

    upgrade = make_change("upgrade", version="1.1.0")
    applied = target.apply(upgrade, {"a.yaml": "b"})

    assert applied.created is True
    assert [subject for _, subject, _ in remote_log(remote)][-3:] == [
        "install team-a/web nginx@1.0.0",
        "Add a README",
        "upgrade team-a/web nginx@1.1.0",
    ]
    assert git(remote, "rev-parse", "main~1").strip() == theirs
    assert git(remote, "show", "main:README.md") == "# Our clusters\n"
    assert target.read("team-a", "web") == {"a.yaml": "b"}
    assert_linear(remote)


def test_a_push_rejected_because_the_remote_moved_is_redone_on_the_new_tip(
    tmp_path: Path, remote: Path
) -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=10, base_delay=0.05, max_delay=1.0, sleep=waits.append)
    target = host(tmp_path, "host-1", remote, pause_before_commit=1.0, push_retry=policy)
    change = make_change()
    outcome: list[Any] = []
    writer = threading.Thread(
        target=lambda: outcome.append(target.apply(change, {"a.yaml": "a"})), daemon=True
    )
    writer.start()
    written = target.repo_dir / "team-a" / "web" / "a.yaml"
    while not written.exists():
        assert writer.is_alive(), "the write ended before pausing"
        time.sleep(0.02)
    # The host fetched and wrote its files; before it commits, someone else pushes.
    theirs = someone_else_commits(tmp_path, remote, {"README.md": "hello\n"}, "Add a README")
    writer.join(timeout=JOIN_SECONDS)

    [applied] = outcome
    assert applied.created is True
    assert len(waits) == 1  # one rejected push, one jittered wait, one retry
    assert 0 <= waits[0] <= 0.05
    assert git(remote, "rev-parse", "main").strip() == applied.ref
    assert git(remote, "rev-parse", "main~1").strip() == theirs
    assert operation_ids(remote) == [change.operation_id]
    assert sorted(remote_files(remote)) == ["README.md", "team-a/web/a.yaml"]
    assert_linear(remote)


def test_a_remote_that_keeps_moving_is_transient_and_the_retry_commits_once(
    tmp_path: Path, remote: Path
) -> None:
    policy = RetryPolicy(attempts=1, sleep=lambda seconds: None)
    target = host(tmp_path, "host-1", remote, pause_before_commit=1.0, push_retry=policy)
    change = make_change()
    errors: list[Exception] = []

    def write() -> None:
        try:
            target.apply(change, {"a.yaml": "a"})
        except Exception as error:
            errors.append(error)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    while not (target.repo_dir / "team-a" / "web" / "a.yaml").exists():
        assert writer.is_alive(), "the write ended before pausing"
        time.sleep(0.02)
    someone_else_commits(tmp_path, remote, {"README.md": "hello\n"}, "Add a README")
    writer.join(timeout=JOIN_SECONDS)

    [error] = errors
    assert isinstance(error, TargetUnavailable)
    assert "moved under each of 1 pushes" in str(error)
    assert operation_ids(remote) == []  # the rejected commit counts for nothing
    assert target.find(change.operation_id) is None

    target.pause_before_commit = 0.0
    applied = target.apply(change, {"a.yaml": "a"})
    assert applied.created is True
    assert operation_ids(remote) == [change.operation_id]
    assert target.apply(change, {"a.yaml": "a"}) == Applied(ref=applied.ref, created=False)


def test_a_push_refused_by_the_remote_is_transient_and_counts_for_nothing(
    tmp_path: Path, remote: Path
) -> None:
    target = host(tmp_path, "host-1", remote)
    target.apply(make_change(), {"a.yaml": "a"})
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'frozen for the audit' >&2\nexit 1\n")
    hook.chmod(0o755)
    upgrade = make_change("upgrade")

    with pytest.raises(TargetUnavailable, match=r"git push failed: .*pre-receive hook declined"):
        target.apply(upgrade, {"a.yaml": "b"})

    assert len(operation_ids(remote)) == 1
    assert target.find(upgrade.operation_id) is None  # not on the remote: not made
    assert target.read("team-a", "web") == {"a.yaml": "a"}
    hook.unlink()
    applied = target.apply(upgrade, {"a.yaml": "b"})
    assert applied.created is True
    assert operation_ids(remote)[-1] == upgrade.operation_id
    assert len(operation_ids(remote)) == 2


def test_an_unreachable_remote_writes_nothing_and_the_retry_makes_the_one_commit(
    tmp_path: Path,
) -> None:
    later = tmp_path / "later.git"  # not there yet: every fetch fails
    target = GitOpsTarget(tmp_path / "gitops", remote_url=f"file://{later}")
    change = make_change()

    with pytest.raises(TargetUnavailable, match=r"fetch failed: .*later\.git"):
        target.apply(change, {"a.yaml": "a"})
    with pytest.raises(TargetUnavailable):
        target.find(change.operation_id)
    with pytest.raises(TargetUnavailable):
        target.holds("team-a", "web", {"a.yaml": "a"})

    bare_remote(later)
    applied = target.apply(change, {"a.yaml": "a"})
    assert applied.created is True
    assert operation_ids(later) == [change.operation_id]
    assert target.apply(change, {"a.yaml": "a"}) == Applied(ref=applied.ref, created=False)
    assert status(target.repo_dir) == ""


def test_an_empty_remote_receives_the_first_hosts_history(tmp_path: Path, remote: Path) -> None:
    # A host that ran without a remote, then got one: its history is published.
    target = GitOpsTarget(tmp_path / "gitops")
    earlier = target.apply(make_change(), {"a.yaml": "a"})
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    target = GitOpsTarget(tmp_path / "gitops", remote_url=str(remote))
    upgrade = make_change("upgrade")

    # The remote has no main and refuses the first push: the commit stays local,
    # indexed, since the local main is what the first push will publish.
    with pytest.raises(TargetUnavailable, match="push"):
        target.apply(upgrade, {"a.yaml": "b"})
    local = target.find(upgrade.operation_id)
    assert local is not None

    hook.unlink()
    assert target.apply(upgrade, {"a.yaml": "b"}) == Applied(ref=local, created=False)
    assert git(remote, "rev-parse", "main").strip() == local
    assert git(remote, "rev-parse", "main~1").strip() == earlier.ref
    assert len(operation_ids(remote)) == 2
    assert host(tmp_path, "host-2", remote).find(upgrade.operation_id) == local


# --- what others commit cannot turn a write against the host ---------------------------


def test_foreign_links_ignores_and_attributes_do_not_change_what_is_written(
    tmp_path: Path, remote: Path
) -> None:
    target = host(tmp_path, "host-1", remote)
    target.apply(make_change(namespace="team-b"), {"a.yaml": "a"})
    outside = tmp_path / "outside"
    outside.mkdir()
    someone_else_commits(
        tmp_path,
        remote,
        {".gitignore": "*.yaml\n", ".gitattributes": "*.yaml text eol=crlf\n"},
        "Housekeeping",
        links={"team-a": str(outside)},
    )
    before = remote_log(remote)

    with pytest.raises(TargetError, match=r"team-a .* is a file, not a folder") as refused:
        target.apply(make_change(namespace="team-a"), {"a.yaml": "a"})
    assert not isinstance(refused.value, TargetUnavailable)
    assert list(outside.iterdir()) == []
    assert remote_log(remote) == before

    # CRLF kept byte for byte and every file committed despite the ignore rule.
    manifests = {"deployment.yaml": "kind: Deployment\r\n", "sub/x.yaml": "x: 1\n"}
    target.apply(make_change("upgrade", namespace="team-b"), manifests)
    assert target.holds("team-b", "web", manifests)
    # (Sizes: the helper reads git's output as text, which folds \r\n.)
    assert git(remote, "cat-file", "-s", "main:team-b/web/deployment.yaml").strip() == str(
        len(b"kind: Deployment\r\n")
    )
    assert git(remote, "ls-tree", "main", "team-a").split()[0] == "120000"  # theirs, kept


# --- concurrency -----------------------------------------------------------------------


@pytest.mark.slow
def test_two_hosts_installing_at_once_lose_and_duplicate_nothing(
    tmp_path: Path, remote: Path
) -> None:
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    per_host = 20
    folders = [tmp_path / f"host-{number}" / "gitops" for number in (1, 2)]
    # Both start with no clone and an empty remote: who publishes first races too.
    hosts = [
        context.Process(
            target=apply_many, args=(str(folder), number, per_host, results, str(remote))
        )
        for number, folder in enumerate(folders, start=1)
    ]
    for process in hosts:
        process.start()
    outcomes = []
    try:
        # Meanwhile someone else adds a README, pushing between the hosts' commits.
        deadline = time.monotonic() + JOIN_SECONDS
        while (
            not git(remote, "for-each-ref", "refs/heads/main")
            or len(operation_ids(remote)) < per_host // 2
        ):
            assert time.monotonic() < deadline, "the hosts did not get half-way"
            time.sleep(0.05)
        someone_else_commits(tmp_path, remote, {"README.md": "# clusters\n"}, "Add a README")
        for _ in hosts:
            outcomes.append(results.get(timeout=JOIN_SECONDS))
    except queue.Empty:
        pytest.fail("a host did not report")
    finally:
        for process in hosts:
            process.join(timeout=JOIN_SECONDS)

    for number, done, error in outcomes:
        assert error is None, f"host {number}: {error}"
        assert len(done) == per_host and all(created for _, _, created, _ in done)
    applied = {operation_id: sha for _, done, _ in outcomes for operation_id, sha, _, _ in done}
    log = remote_log(remote)
    # Every operation exactly once on the remote, each at the sha its host reported.
    assert sorted(operation_ids(remote)) == sorted(applied)
    assert {operation_id.strip(): sha for sha, _, operation_id in log if operation_id} == applied
    assert [subject for _, subject, _ in log].count("Add a README") == 1
    assert len(log) == 1 + 2 * per_host + 1  # one initial commit, the README
    assert_linear(remote)
    assert git(remote, "show", "main:README.md") == "# clusters\n"
    # Each instance holds what its last change wrote, as either host reads it.
    readers = [GitOpsTarget(folder, remote_url=str(remote)) for folder in folders]
    for number in (1, 2):
        for index in range(15, 20):
            instance = f"w{number}-app{index % 5}"
            expected = manifests_for(instance, f"1.{index}.0")
            assert all(reader.read("team-a", instance) == expected for reader in readers)
    for operation_id, sha in list(applied.items())[:: per_host // 2]:
        assert all(reader.find(operation_id) == sha for reader in readers)
    for folder in folders:
        assert status(folder) == ""


# --- the remote's history rewritten, credentials ---------------------------------------


def test_a_commit_dropped_from_the_remote_by_a_force_push_no_longer_counts(
    tmp_path: Path, remote: Path
) -> None:
    target = host(tmp_path, "host-1", remote)
    change = make_change()
    first = target.apply(change, {"a.yaml": "a"})
    # Someone resets the remote's main to before the operation.
    git(remote, "update-ref", "refs/heads/main", f"{first.ref}~1")

    assert target.find(change.operation_id) is None  # its index ref is stale
    again = target.apply(change, {"a.yaml": "a"})

    # Made again (the same sha when made in the same second: same tree, parent, date).
    assert again.created is True
    assert git(remote, "rev-parse", "main").strip() == again.ref
    assert operation_ids(remote) == [change.operation_id]
    assert target.find(change.operation_id) == again.ref


def test_remote_credentials_never_show_in_errors(tmp_path: Path) -> None:
    # Nothing listens on the discard port: the fetch fails at once.
    url = "http://deployer:s3cret-token@127.0.0.1:9/ops.git"
    target = GitOpsTarget(tmp_path / "gitops", remote_url=url, push_timeout=20)

    with pytest.raises(TargetUnavailable) as error:
        target.apply(make_change(), {"a.yaml": "a"})

    assert "s3cret-token" not in str(error.value)
    assert "***@127.0.0.1:9/ops.git" in str(error.value)
