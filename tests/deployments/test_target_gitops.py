"""The GitOps deploy target: one commit per operation, never lost, never twice.

Real git on temporary repositories; concurrency and crashes with spawned OS
processes (one SIGKILLed between writing its files and committing). No database.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import queue
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from deployments.models import Namespace
from deployments.targets import (
    Applied,
    GitOpsTarget,
    TargetError,
    TargetUnavailable,
    gitops_target,
    target_for,
)
from deployments.targets.gitops import author_email, author_name
from tests.deployments.gitops_workers import apply_many, apply_once, make_change, manifests_for

JOIN_SECONDS = 120


def git(repo: Path, *args: str) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")} | {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, env=env
    ).stdout


def commit_count(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD"))


def tree_files(repo: Path, folder: str = "") -> list[str]:
    args = ["ls-tree", "-r", "--name-only", "HEAD"]
    return git(repo, *args, *([f"{folder}/"] if folder else [])).splitlines()


def status(repo: Path) -> str:
    return git(repo, "status", "--porcelain", "--untracked-files=all", "--ignored")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return tmp_path / "gitops"


@pytest.fixture
def target(repo: Path) -> GitOpsTarget:
    return GitOpsTarget(repo)


# --- one commit per operation ----------------------------------------------------------


def test_first_use_creates_a_repository_with_one_initial_commit(
    repo: Path, target: GitOpsTarget
) -> None:
    assert target.find(make_change().operation_id) is None
    assert target.read("team-a", "web") == {}
    assert not repo.exists()  # reads create nothing

    target.apply(make_change(), {"a.yaml": "a"})

    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert commit_count(repo) == 2
    assert git(repo, "log", "-1", "--format=%an <%ae>", "HEAD~1").strip() == (
        "Ops Market <ops-market@localhost>"
    )


def test_a_repository_killed_during_its_creation_is_finished(repo: Path) -> None:
    git(repo.parent, "init", "-q", "-b", "main", str(repo))  # no config, no commit yet

    GitOpsTarget(repo).apply(make_change(), {"a.yaml": "a"})

    assert commit_count(repo) == 2
    assert git(repo, "config", "--get", "opsmarket.repository").strip() == "gitops"


def test_a_folder_that_is_not_ours_is_never_cleaned(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "precious.txt").write_text("keep")
    with pytest.raises(TargetError, match="not empty"):
        GitOpsTarget(plain).apply(make_change(), {"a.yaml": "a"})
    assert (plain / "precious.txt").read_text() == "keep"

    checkout = tmp_path / "checkout"
    git(tmp_path, "init", "-q", "-b", "main", str(checkout))
    git(
        checkout,
        "-c",
        "user.name=x",
        "-c",
        "user.email=x@x",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "theirs",
    )
    (checkout / "untracked.txt").write_text("keep")
    with pytest.raises(TargetError, match="not an Ops Market GitOps repository"):
        GitOpsTarget(checkout).apply(make_change(), {"a.yaml": "a"})
    assert (checkout / "untracked.txt").read_text() == "keep"
    assert commit_count(checkout) == 1

    # Adopted on purpose, it is used.
    git(checkout, "config", "opsmarket.repository", "gitops")
    assert GitOpsTarget(checkout).apply(make_change(), {"a.yaml": "a"}).created is True


def test_apply_makes_one_commit_with_the_spec_subject_and_trailers(
    repo: Path, target: GitOpsTarget
) -> None:
    target.apply(make_change(), {"a.yaml": "a"})
    before = commit_count(repo)
    change = make_change("upgrade", version="1.2.3", requested_by="token:ci-bot")

    applied = target.apply(change, manifests_for("web", "1.2.3"))

    assert applied.created is True
    assert commit_count(repo) == before + 1
    assert git(repo, "rev-parse", "HEAD").strip() == applied.ref
    assert git(repo, "log", "-1", "--format=%B").rstrip("\n").splitlines() == [
        "upgrade team-a/web nginx@1.2.3",
        "",
        "Requested-by: token:ci-bot",
        f"Operation-Id: {change.operation_id}",
    ]
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>").strip() == (
        "token:ci-bot <token-ci-bot@ops-market.invalid>|Ops Market <ops-market@localhost>"
    )
    trailers = git(repo, "log", "-1", "--format=%(trailers:only,unfold)").strip().splitlines()
    assert trailers == ["Requested-by: token:ci-bot", f"Operation-Id: {change.operation_id}"]
    assert status(repo) == ""


def test_apply_replaces_the_folder_exactly(repo: Path, target: GitOpsTarget) -> None:
    target.apply(make_change(), {"a.yaml": "a", "deep/b.yaml": "b", "deep/er/c.yaml": "c"})
    target.apply(make_change(instance="other"), {"keep.yaml": "k"})

    target.apply(make_change("upgrade", version="2.0.0"), {"deep/new.yaml": "n\n"})

    assert tree_files(repo, "team-a/web") == ["team-a/web/deep/new.yaml"]
    assert sorted(p.name for p in (repo / "team-a" / "web").rglob("*") if p.is_file()) == [
        "new.yaml"
    ]
    assert target.read("team-a", "web") == {"deep/new.yaml": "n\n"}
    assert target.read("team-a", "other") == {"keep.yaml": "k"}
    assert status(repo) == ""


def test_identical_manifests_still_make_their_one_commit(repo: Path, target: GitOpsTarget) -> None:
    manifests = manifests_for("web", "1.0.0")
    target.apply(make_change(), manifests)
    before = commit_count(repo)

    rollback = make_change("rollback")
    applied = target.apply(rollback, manifests)

    assert applied.created is True
    assert commit_count(repo) == before + 1
    assert git(repo, "diff", "--name-only", "HEAD~1", "HEAD") == ""
    assert target.history("team-a", "web")[0]["operation_id"] == rollback.operation_id


def test_redelivered_apply_and_remove_make_no_second_commit(
    repo: Path, target: GitOpsTarget
) -> None:
    install = make_change()
    first = target.apply(install, {"a.yaml": "a"})
    count = commit_count(repo)

    # Redelivered with other content (a re-render): the recorded commit stands.
    again = target.apply(install, {"b.yaml": "b"})

    assert again == Applied(ref=first.ref, created=False)
    assert commit_count(repo) == count
    assert target.read("team-a", "web") == {"a.yaml": "a"}
    assert target.find(install.operation_id) == first.ref

    uninstall = make_change("uninstall")
    removed = target.remove(uninstall)
    assert target.remove(uninstall) == Applied(ref=removed.ref, created=False)
    assert commit_count(repo) == count + 1
    assert target.find(uninstall.operation_id) == removed.ref


def test_remove_leaves_nothing_of_the_instance(repo: Path, target: GitOpsTarget) -> None:
    target.apply(make_change(), {"a.yaml": "a", "sub/b.yaml": "b"})
    target.apply(make_change(instance="web2"), {"a.yaml": "other"})

    applied = target.remove(make_change("uninstall"))

    assert applied.created is True
    assert tree_files(repo, "team-a/web") == []
    assert not (repo / "team-a" / "web").exists()
    assert tree_files(repo) == ["team-a/web2/a.yaml"]
    assert git(repo, "log", "-1", "--format=%s").strip() == "uninstall team-a/web nginx@1.0.0"
    assert target.read("team-a", "web") == {}
    assert status(repo) == ""


def test_removing_an_absent_folder_still_makes_one_commit(repo: Path, target: GitOpsTarget) -> None:
    target.apply(make_change(instance="web2"), {"a.yaml": "a"})
    before = commit_count(repo)

    # The workflow's undo knows no version for an instance that never deployed: "-".
    uninstall = make_change("uninstall", instance="never-installed", version="-")
    applied = target.remove(uninstall)

    assert applied.created is True
    assert commit_count(repo) == before + 1
    assert tree_files(repo) == ["team-a/web2/a.yaml"]
    [entry] = target.history("team-a", "never-installed")
    assert entry["operation_id"] == uninstall.operation_id
    assert entry["subject"] == "uninstall team-a/never-installed nginx@-"


def test_history_lists_the_operations_of_one_instance_newest_first(
    target: GitOpsTarget,
) -> None:
    install = make_change(requested_by="alice")
    upgrade = make_change("upgrade", version="1.1.0", requested_by="bob")
    target.apply(install, {"a.yaml": "1"})
    target.apply(make_change(instance="web-2"), {"a.yaml": "x"})  # a name sharing a prefix
    target.apply(upgrade, {"a.yaml": "1"})  # no change to the files

    history = target.history("team-a", "web")

    assert [(h["subject"], h["operation_id"], h["requested_by"]) for h in history] == [
        ("upgrade team-a/web nginx@1.1.0", upgrade.operation_id, "bob"),
        ("install team-a/web nginx@1.0.0", install.operation_id, "alice"),
    ]
    assert all(len(h["sha"]) == 40 and h["date"] for h in history)
    assert len(target.history("team-a", "web", limit=1)) == 1


def test_read_shows_the_committed_files_not_a_dirty_tree(repo: Path, target: GitOpsTarget) -> None:
    target.apply(make_change(), {"a.yaml": "ä: ünïcode\n"})
    (repo / "team-a" / "web" / "a.yaml").write_text("half-written")
    (repo / "team-a" / "web" / "stray.yaml").write_text("stray")

    assert target.read("team-a", "web") == {"a.yaml": "ä: ünïcode\n"}


def test_holds_is_true_for_exactly_the_committed_files(repo: Path, target: GitOpsTarget) -> None:
    assert not target.holds("team-a", "web", {"a.yaml": "a"})  # no repository yet
    assert target.holds("team-a", "web", {})
    committed = {"a.yaml": "ä: ünïcode\n", "deep/b.yaml": "b: 1\n"}
    target.apply(make_change(), committed)
    (repo / "team-a" / "web" / "a.yaml").write_text("half-written")  # the tree is not HEAD

    assert target.holds("team-a", "web", committed)
    assert not target.holds("team-a", "web", {**committed, "a.yaml": "ä: other\n"})
    assert not target.holds("team-a", "web", {"a.yaml": "ä: ünïcode\n"})  # one is missing
    assert not target.holds("team-a", "web", {**committed, "c.yaml": "c"})  # one too many
    assert not target.holds("team-a", "other", committed)


# --- hostile input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../escape.yaml",
        "sub/../../escape.yaml",
        "a//b.yaml",
        "a/",
        "./a.yaml",
        "",
        "a\\b.yaml",
        ".git/config",
        "sub/.git/hooks/pre-commit",
        ".gitattributes",
        "sub/.gitmodules",
        ".GIT/config",
        "line\nbreak.yaml",
    ],
)
def test_hostile_manifest_paths_are_refused_and_nothing_is_written(
    repo: Path, target: GitOpsTarget, path: str
) -> None:
    target.apply(make_change(), {"a.yaml": "a"})
    before = commit_count(repo)

    with pytest.raises(TargetError) as error:
        target.apply(make_change("upgrade"), {"ok.yaml": "fine", path: "evil"})

    assert not isinstance(error.value, TargetUnavailable)  # a refusal, not retried
    assert commit_count(repo) == before
    assert target.read("team-a", "web") == {"a.yaml": "a"}
    assert status(repo) == ""
    assert not (repo.parent / "escape.yaml").exists()


def test_a_path_that_is_both_file_and_folder_is_refused(repo: Path, target: GitOpsTarget) -> None:
    with pytest.raises(TargetError, match="both a file and a folder"):
        target.apply(make_change(), {"a": "file", "a/b/c.yaml": "nested"})
    assert not repo.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("namespace", "../etc"),
        ("namespace", "Team-A"),
        ("instance", "web/evil"),
        ("instance", ".git"),
        ("instance", "web\n"),  # ^...$ let a final newline through
        ("instance", ""),
        ("app", "nginx latest"),
        ("app", ""),
        ("version", "1.0.0 extra"),
        ("version", "1.0.0\n\nOperation-Id: 00000000-0000-0000-0000-000000000000"),
        ("kind", "delete"),
        ("operation_id", "not-a-uuid"),
        ("operation_id", "6F9619FF-8B86-D011-B42D-00C04FC964FF"),  # not canonical
        ("requested_by", "alice\nOperation-Id: 00000000-0000-0000-0000-000000000000"),
        ("requested_by", "   "),
    ],
)
def test_hostile_change_fields_are_refused(
    repo: Path, target: GitOpsTarget, field: str, value: str
) -> None:
    fields: dict[str, Any] = {field: value} if field != "kind" else {}
    change = make_change(value if field == "kind" else "install", **fields)

    with pytest.raises(TargetError):
        target.apply(change, {"a.yaml": "a"})
    assert not repo.exists()


def test_kinds_go_to_the_matching_method(target: GitOpsTarget) -> None:
    with pytest.raises(TargetError):
        target.apply(make_change("uninstall"), {})
    with pytest.raises(TargetError):
        target.remove(make_change("install"))


def test_author_is_the_requester_sanitised() -> None:
    assert author_name("Eve <eve@evil>") == "Eve eve@evil"
    assert author_email("Eve <eve@evil>") == "Eve-eve-evil@ops-market.invalid"
    assert author_email("token:ci") == "token-ci@ops-market.invalid"
    assert author_email("...") == "unknown@ops-market.invalid"
    assert author_name("<>") == "unknown"


def test_a_requested_by_quoting_an_operation_id_does_not_count_as_that_operation(
    target: GitOpsTarget,
) -> None:
    victim = make_change(instance="victim")
    target.apply(make_change(requested_by=f"Operation-Id: {victim.operation_id}"), {"a": "a"})

    assert target.find(victim.operation_id) is None
    assert target.apply(victim, {"a": "a"}).created is True


def test_the_machines_git_environment_does_not_leak_in(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    git(tmp_path, "init", "-q", str(elsewhere))
    global_config = tmp_path / "gitconfig"
    global_config.write_text("[user]\n\tname = Wrong\n[commit]\n\tgpgSign = true\n")
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(global_config))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Mallory")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Mallory")

    GitOpsTarget(repo).apply(make_change(), {"a.yaml": "a"})

    monkeypatch.delenv("GIT_DIR")
    assert git(repo, "log", "-1", "--format=%an|%cn").strip() == "alice|Ops Market"
    assert not (repo / ".git" / "config").read_text().count("worktree")
    assert git(elsewhere, "rev-list", "--all") == ""


# --- locking, concurrency and crashes --------------------------------------------------


def test_a_held_lock_times_out_as_transient(repo: Path) -> None:
    target = GitOpsTarget(repo, lock_timeout=0.2)
    target.apply(make_change(), {"a.yaml": "a"})
    before = commit_count(repo)
    with open(target.lock_path, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(TargetUnavailable, match="lock"):
            target.apply(make_change("upgrade"), {"a.yaml": "b"})
    assert commit_count(repo) == before


@pytest.mark.slow
def test_two_processes_applying_at_once_lose_and_duplicate_nothing(repo: Path) -> None:
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    per_worker = 20
    # Both start on a repository that does not exist yet: creation races too.
    workers = [
        context.Process(target=apply_many, args=(str(repo), worker, per_worker, results))
        for worker in (1, 2)
    ]
    for process in workers:
        process.start()
    outcomes = []
    try:
        for _ in workers:
            outcomes.append(results.get(timeout=JOIN_SECONDS))
    except queue.Empty:
        pytest.fail("a worker did not report")
    finally:
        for process in workers:
            process.join(timeout=JOIN_SECONDS)

    for worker, done, error in outcomes:
        assert error is None, f"worker {worker}: {error}"
        assert len(done) == per_worker and all(created for _, _, created, _ in done)
    assert commit_count(repo) == 1 + 2 * per_worker
    shas = {sha for _, done, _ in outcomes for _, sha, _, _ in done}
    assert len(shas) == 2 * per_worker
    git(repo, "fsck", "--strict", "--no-progress")
    assert status(repo) == ""
    target = GitOpsTarget(repo)
    for _, done, _ in outcomes:
        for operation_id, sha, _, _ in done:
            assert target.find(operation_id) == sha
    # Every instance holds what its last change wrote.
    for worker in (1, 2):
        for index in range(15, 20):
            instance = f"w{worker}-app{index % 5}"
            assert target.read("team-a", instance) == manifests_for(instance, f"1.{index}.0")


@pytest.mark.slow
def test_a_worker_killed_before_its_commit_leaves_nothing_behind(repo: Path) -> None:
    target = GitOpsTarget(repo)
    target.apply(make_change(), {"old.yaml": "old"})
    before = commit_count(repo)
    change = make_change("upgrade", version="2.0.0")
    manifests = {"new.yaml": "new", "sub/more.yaml": "more"}

    context = multiprocessing.get_context("spawn")
    child = context.Process(target=apply_once, args=(str(repo), change, manifests, 300.0))
    child.start()
    try:
        written = repo / "team-a" / "web" / "sub" / "more.yaml"
        while not written.exists() or (repo / "team-a" / "web" / "old.yaml").exists():
            assert child.is_alive(), "the child ended before pausing"
            time.sleep(0.05)
        # Its files are written and staged: now the worker dies.
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.join(timeout=JOIN_SECONDS)
    assert child.exitcode == -signal.SIGKILL
    assert commit_count(repo) == before
    # What a `git commit` killed mid-way leaves too: its index lock and a stray file.
    (repo / ".git" / "index.lock").write_bytes(b"")
    (repo / "team-a" / "web" / "stray.yaml").write_text("stray")
    assert status(repo) != ""

    # Redelivered to another process (this one) with the same operation id.
    applied = target.apply(change, manifests)

    assert applied.created is True
    assert commit_count(repo) == before + 1
    assert target.read("team-a", "web") == manifests
    assert status(repo) == ""
    assert not (repo / ".git" / "index.lock").exists()
    assert target.apply(change, manifests) == Applied(ref=applied.ref, created=False)
    git(repo, "fsck", "--strict", "--no-progress")


def test_a_crash_after_the_commit_is_found_by_the_redelivery(
    repo: Path, target: GitOpsTarget
) -> None:
    change = make_change()
    applied = target.apply(change, {"a.yaml": "a"})
    # Killed after main moved but before git released its locks, and before the
    # operation's index ref was written.
    (repo / ".git" / "index.lock").write_bytes(b"")
    (repo / ".git" / "refs" / "heads" / "main.lock").write_bytes(b"")
    (repo / "team-a" / "web" / "a.yaml").write_text("torn")
    git(repo, "update-ref", "-d", f"refs/operations/{change.operation_id}")
    assert target.find(change.operation_id) == applied.ref  # HEAD is that operation

    assert target.apply(change, {"a.yaml": "a"}) == Applied(ref=applied.ref, created=False)
    assert git(repo, "rev-parse", f"refs/operations/{change.operation_id}").strip() == (applied.ref)
    assert target.apply(make_change("upgrade"), {"a.yaml": "b"}).created is True
    # No longer HEAD, still found: the repair wrote its ref.
    assert target.find(change.operation_id) == applied.ref
    assert status(repo) == ""


def test_every_operation_has_its_index_ref(repo: Path, target: GitOpsTarget) -> None:
    changes = [make_change(), make_change("upgrade"), make_change("uninstall")]
    target.apply(changes[0], {"a.yaml": "a"})
    target.apply(changes[1], {"a.yaml": "b"})
    target.remove(changes[2])

    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/operations")
    assert sorted(refs.splitlines()) == sorted(
        f"refs/operations/{c.operation_id} {target.find(c.operation_id)}" for c in changes
    )
    assert len(set(target.find(c.operation_id) for c in changes)) == 3


def test_reindex_indexes_history_written_without_the_index(
    repo: Path, target: GitOpsTarget
) -> None:
    changes = [make_change(), make_change("upgrade"), make_change("rollback")]
    shas = [target.apply(c, {"a.yaml": str(n)}).ref for n, c in enumerate(changes)]
    for change in changes:
        git(repo, "update-ref", "-d", f"refs/operations/{change.operation_id}")
    assert target.find(changes[0].operation_id) is None  # older than HEAD: not found

    assert target.reindex() == 2  # the repair had indexed HEAD already
    assert [target.find(c.operation_id) for c in changes] == shas
    assert target.reindex() == 0


# --- pushing (several hosts sharing a remote: test_target_gitops_hosts.py) -------------


def bare_remote(path: Path) -> Path:
    git(path.parent, "init", "-q", "--bare", "-b", "main", str(path))
    return path


def test_each_commit_is_pushed_to_the_remote(tmp_path: Path, repo: Path) -> None:
    remote = bare_remote(tmp_path / "remote.git")
    target = GitOpsTarget(repo, remote_url=str(remote))

    first = target.apply(make_change(), {"a.yaml": "a"})
    assert git(remote, "rev-parse", "main").strip() == first.ref
    second = target.remove(make_change("uninstall"))
    assert git(remote, "rev-parse", "main").strip() == second.ref
    assert git(remote, "log", "-1", "--format=%s", "main").strip() == (
        "uninstall team-a/web nginx@1.0.0"
    )


def test_remote_urls_are_redacted_and_checked() -> None:
    target = GitOpsTarget(Path("/tmp/x"), remote_url="https://user:secret@git.example/ops.git")
    assert "secret" not in repr(target) and "git.example/ops.git" in repr(target)
    with pytest.raises(TargetError):
        GitOpsTarget(Path("/tmp/x"), remote_url="--upload-pack=touch /tmp/pwned")


# --- choosing the target ---------------------------------------------------------------


def test_target_for_a_gitops_namespace_uses_the_settings(settings: Any, tmp_path: Path) -> None:
    settings.GITOPS_DIR = tmp_path / "repo"
    settings.GITOPS_REMOTE_URL = str(tmp_path / "remote.git")
    settings.GITOPS_FAULT_PAUSE_BEFORE_COMMIT = 0.0

    chosen = target_for(Namespace(name="team-a", target="gitops"))

    assert isinstance(chosen, GitOpsTarget)
    assert chosen.name == "gitops"
    assert chosen.repo_dir == settings.GITOPS_DIR
    assert chosen.remote_url == settings.GITOPS_REMOTE_URL
    assert chosen.pause_before_commit == 0.0

    settings.GITOPS_REMOTE_URL = None
    assert gitops_target().remote_url is None


def test_target_for_an_unknown_target_is_refused() -> None:
    with pytest.raises(TargetError):
        target_for(Namespace(name="team-a", target="kubernetes"))
