from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from deployments.models import Namespace
from portal.management.commands import demo_load
from portal.models import AuditEvent, Membership, Role, Team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def market_hook_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    # Building the demo market takes seconds per call and has its own tests
    # (tests/market/test_web_demo.py); here only the call is checked.
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(demo_load, "load_demo_market", lambda **kwargs: calls.append(kwargs))
    return calls


def _demo_load(*args: str) -> str:
    out = StringIO()
    call_command("demo_load", *args, stdout=out)
    return out.getvalue()


def test_demo_load_creates_logins_team_and_namespace_and_prints_the_logins(settings):
    settings.DEBUG = True

    output = _demo_load()

    User = get_user_model()
    admin = User.objects.get(username="admin")
    operator = User.objects.get(username="operator")
    assert admin.is_staff and admin.is_superuser
    assert admin.check_password("admin-demo-password")
    assert not operator.is_staff
    assert operator.check_password("operator-demo-password")
    team = Team.objects.get(name="platform-sre")
    assert Membership.objects.get(team=team, user=operator).role == Role.OPERATOR
    assert Namespace.objects.get(name="sre-tools").team == team
    assert "admin-demo-password" in output
    assert "operator-demo-password" in output


def test_demo_load_hands_the_team_to_the_demo_market_hook(settings, market_hook_calls):
    settings.DEBUG = True

    _demo_load()

    assert len(market_hook_calls) == 1
    assert market_hook_calls[0]["team"] == Team.objects.get(name="platform-sre")


def test_demo_load_twice_changes_nothing(settings):
    settings.DEBUG = True
    _demo_load()
    password_hash = get_user_model().objects.get(username="operator").password
    events = AuditEvent.objects.count()

    output = _demo_load()

    assert get_user_model().objects.filter(username__in=["admin", "operator"]).count() == 2
    assert Team.objects.filter(name="platform-sre").count() == 1
    assert Membership.objects.count() == 1
    assert Namespace.objects.filter(name="sre-tools").count() == 1
    # An unchanged password is not rehashed: that would sign the user out everywhere.
    assert get_user_model().objects.get(username="operator").password == password_hash
    assert AuditEvent.objects.count() == events
    assert "[" not in output  # no "[created]" / "[password reset]" notes


def test_demo_load_restores_a_changed_demo_password(settings):
    settings.DEBUG = True
    _demo_load()
    operator = get_user_model().objects.get(username="operator")
    operator.set_password("something-else-entirely")
    operator.save()

    output = _demo_load()

    operator.refresh_from_db()
    assert operator.check_password("operator-demo-password")
    assert "password reset" in output


def test_demo_load_refuses_with_debug_off_unless_forced(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG off"):
        _demo_load()
    assert not get_user_model().objects.filter(username="admin").exists()

    _demo_load("--force")
    assert get_user_model().objects.filter(username="admin").exists()
