"""The audit page: staff only, filtered, paginated."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.actors import Actor
from portal.models import AuditEvent
from portal.services.audit import audit_record
from tests.factories import make_team, make_user

pytestmark = pytest.mark.django_db


def record(user, action, **extra):
    return audit_record(
        actor=Actor(user=user, via="web", ip_address="10.1.2.3"), action=action, **extra
    )


def test_audit_page_is_404_for_non_staff(client, user):
    client.force_login(user)
    assert client.get("/audit/").status_code == 404


def test_audit_page_needs_a_login(client):
    assert client.get("/audit/").status_code == 302


def test_staff_see_every_event_with_who_what_target_and_address(client, staff_user, user):
    team = make_team("ops")
    record(user, "team.update", target=team, detail={"description": {"from": "", "to": "x"}})
    client.force_login(staff_user)

    page = client.get("/audit/").content.decode()

    assert "team.update" in page
    assert "alice" in page
    assert "portal.team ops" in page
    assert "10.1.2.3" in page


def test_filters_by_actor_action_target_type_and_dates(client, staff_user, user):
    bob = make_user("bob")
    team = make_team("ops")
    record(user, "team.update", target=team)
    record(bob, "membership.add", target=team)
    old = record(bob, "token.create", target_type="portal.apitoken", target_id="9")
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    client.force_login(staff_user)

    def actions(query):
        response = client.get("/audit/" + query)
        assert response.status_code == 200
        page = response.content.decode()
        # Rows show the action in a code cell; the filter's suggestions list them all.
        return {
            a
            for a in ("team.update", "membership.add", "token.create")
            if f"<code>{a}</code>" in page
        }

    assert actions("?actor=bob") == {"membership.add", "token.create"}
    assert actions("?action=team") == {"team.update"}
    assert actions("?action=membership.add") == {"membership.add"}
    assert actions("?target_type=portal.apitoken") == {"token.create"}
    today = timezone.now().date()
    assert actions(f"?since={today.isoformat()}") == {"team.update", "membership.add"}
    assert actions(f"?until={(today - timedelta(days=5)).isoformat()}") == {"token.create"}


def test_bad_date_range_is_reported(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/audit/?since=2025-02-01&until=2025-01-01")
    assert response.status_code == 400
    assert "after" in response.content.decode()


def test_audit_page_is_paginated(client, staff_user):
    for index in range(55):
        record(staff_user, "team.update", target_type="portal.team", target_id=str(index))
    client.force_login(staff_user)
    first = client.get("/audit/").content.decode()
    assert "Page 1 of 2" in first
    assert "Page 2 of 2" in client.get("/audit/?page=2").content.decode()
