"""manage.py token_create, team_create and team_member_set."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from portal.models import ApiToken, AuditEvent, Membership, Role, Team
from tests.factories import make_team, make_user

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().splitlines()


def test_token_create_prints_a_working_token_on_its_last_line(user):
    lines = run("token_create", "alice", "--name", "ci", "--days", "7")

    secret = lines[-1]
    assert secret.startswith("omk_")
    assert " " not in secret
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/tokens/").json()["results"][0]["name"] == "ci"
    event = AuditEvent.objects.get(action="token.create")
    assert (event.via, event.actor_label) == ("cli", "system")
    assert secret not in str(event.detail)


def test_token_create_refuses_unknown_users_and_taken_names(user):
    with pytest.raises(CommandError, match="no active user named 'ghost'"):
        run("token_create", "ghost", "--name", "ci")
    run("token_create", "alice", "--name", "ci")
    with pytest.raises(CommandError, match="already has a token named 'ci'"):
        run("token_create", "alice", "--name", "ci")
    assert ApiToken.objects.count() == 1


def test_team_create_and_member_set_are_audited(user):
    assert run("team_create", "ops") == ["created team ops"]
    assert run("team_member_set", "ops", "alice", "admin") == ["added alice in ops as admin"]
    assert run("team_member_set", "ops", "alice", "admin") == ["set alice in ops as admin"]

    team = Team.objects.get(name="ops")
    assert Membership.objects.get(team=team, user=user).role == Role.ADMIN
    assert list(AuditEvent.objects.order_by("id").values_list("action", "via")) == [
        ("team.create", "cli"),
        ("membership.add", "cli"),
    ]


def test_team_commands_refuse_clearly(user):
    make_team("ops", members={user: Role.ADMIN})
    with pytest.raises(CommandError, match="already exists"):
        run("team_create", "ops")
    with pytest.raises(CommandError, match="no team named 'nope'"):
        run("team_member_set", "nope", "alice", "viewer")
    with pytest.raises(CommandError, match="last admin"):
        run("team_member_set", "ops", "alice", "viewer")
    make_user("bob")
    with pytest.raises(CommandError):
        run("team_member_set", "ops", "bob", "owner")


@pytest.mark.slow
def test_token_create_exit_status_from_a_real_shell(tmp_path):
    """The real command line: exit 0 with the token last, exit 1 and a reason on stderr."""
    env = {
        **os.environ,
        "PORTAL_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert manage("migrate", "--noinput", "-v0").returncode == 0
    created = manage("shell", "-c", "from tests.factories import make_user; make_user('carol')")
    assert created.returncode == 0, created.stderr

    good = manage("token_create", "carol", "--name", "ci")
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[-1].startswith("omk_")

    unknown = manage("token_create", "ghost", "--name", "ci")
    assert unknown.returncode == 1
    assert "no active user named 'ghost'" in unknown.stderr

    duplicate = manage("token_create", "carol", "--name", "ci")
    assert duplicate.returncode == 1
    assert "already has a token named 'ci'" in duplicate.stderr
