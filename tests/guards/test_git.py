"""The one git environment and URL redaction (guards.git), with a real git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from guards.git import git_env, redact_url


@pytest.fixture
def hostile_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A worker environment full of secrets and of git settings that would change git."""
    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".gitconfig").write_text("[user]\n\tname = Mallory\n")
    (home / ".config" / "git" / "config").write_text("[core]\n\tfsmonitor = touch pwned\n")
    elsewhere = tmp_path / "elsewhere"
    subprocess.run(["git", "init", "-q", str(elsewhere)], check=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:db-secret@h/db")
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'credential.helper'='!echo pwned'")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "Mallory")
    monkeypatch.setenv("GIT_ASKPASS", "/bin/echo")
    monkeypatch.setenv("SSH_AUTH_SOCK", "/tmp/agent.sock")
    return tmp_path


def test_git_inherits_no_secret_and_no_configuration(hostile_environment: Path) -> None:
    work = hostile_environment / "work"
    work.mkdir()
    env = git_env(home=work)

    assert env["HOME"] == str(work)
    assert set(env) == {
        "PATH",
        "HOME",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_CONFIG_GLOBAL",
        "GIT_ATTR_NOSYSTEM",
        "GIT_TERMINAL_PROMPT",
        "LC_ALL",
        "GIT_SSH_COMMAND",
    }
    assert env["GIT_SSH_COMMAND"] == "ssh -o BatchMode=yes"
    # git itself sees no configuration at all, and no repository but its own folder's.
    shown = subprocess.run(
        ["git", "config", "--list", "--show-origin"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.stdout == ""
    inside = subprocess.run(
        ["git", "rev-parse", "--git-dir"], cwd=work, env=env, capture_output=True, check=False
    )
    assert inside.returncode != 0  # GIT_DIR did not point it at "elsewhere"


def test_only_named_variables_pass_and_the_deployments_ssh_wins(
    hostile_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_SSH", "/usr/local/bin/our-ssh")
    env = git_env(home="/h", keep=("SSH_AUTH_SOCK", "GIT_SSH", "NOT_SET"), extra={"X": "1"})

    assert env["SSH_AUTH_SOCK"] == "/tmp/agent.sock" and env["X"] == "1"
    assert env["GIT_SSH"] == "/usr/local/bin/our-ssh"
    assert "GIT_SSH_COMMAND" not in env  # it would override the deployment's GIT_SSH
    assert "NOT_SET" not in env and "AWS_SECRET_ACCESS_KEY" not in env


@pytest.mark.parametrize("name", ["GIT_DIR", "GIT_CONFIG_PARAMETERS", "GIT_ASKPASS"])
def test_git_settings_of_the_worker_cannot_be_kept(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        git_env(home="/h", keep=(name,))


@pytest.mark.parametrize("name", ["GIT_CONFIG_GLOBAL", "GIT_TERMINAL_PROMPT", "HOME", "PATH"])
def test_the_isolation_cannot_be_overridden(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        git_env(home="/h", extra={name: "x"})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@git.example/ops.git", "https://***@git.example/ops.git"),
        ("https://user:p%40ss@git.example:8443/ops.git", "https://***@git.example:8443/ops.git"),
        ("https://ghp_abc123token@github.com/org/ops.git", "https://***@github.com/org/ops.git"),
        ("https://oauth2:glpat-xyz@gitlab.example/o.git", "https://***@gitlab.example/o.git"),
        ("https://a@b:c@git.example/ops.git", "https://***@git.example/ops.git"),
        ("https://git.example/o.git?private_token=tok", "https://git.example/o.git?***"),
        ("https://git.example/o.git#tok", "https://git.example/o.git"),
        ("ssh://git@git.example/ops.git", "ssh://***@git.example/ops.git"),
        ("https://git.example/ops.git", "https://git.example/ops.git"),
        ("/srv/ops.git", "/srv/ops.git"),
        ("file:///srv/ops.git", "file:///srv/ops.git"),
        ("git@git.example:org/ops.git", "git@git.example:org/ops.git"),
        ("user:secret@git.example:org/ops.git", "***@git.example:org/ops.git"),
        ("https://user:secret@[::1/ops.git", "<url>"),
        ("https://user:secret@host:notaport/ops.git", "<url>"),
    ],
)
def test_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    for secret in ("secret", "token", "tok", "glpat", "p%40ss"):
        if secret in url.split("@")[0] or f"={secret}" in url or f"#{secret}" in url:
            assert secret not in redact_url(url)
