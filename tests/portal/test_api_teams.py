"""Teams and members through the API: visibility, roles, audit."""

from __future__ import annotations

import pytest

from portal.models import AuditEvent, Membership, Role, Team
from tests.factories import make_namespace, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(user):
    return make_team("ops", members={user: Role.ADMIN})


def test_team_list_shows_only_the_callers_teams(api_client, user, ops):
    make_team("secret-team")
    api_client.force_authenticate(user)

    body = api_client.get("/api/v1/teams/").json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1
    assert body["results"][0]["name"] == "ops"
    assert body["results"][0]["my_role"] == "admin"
    assert body["results"][0]["member_count"] == 1


def test_staff_see_every_team(api_client, staff_user, ops):
    make_team("other")
    api_client.force_authenticate(staff_user)
    assert api_client.get("/api/v1/teams/").json()["count"] == 2


def test_another_teams_detail_answers_404_with_the_error_shape(api_client, user, ops):
    make_team("secret-team")
    api_client.force_authenticate(user)

    response = api_client.get("/api/v1/teams/secret-team/")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert isinstance(response.json()["detail"], str)
    # Same answer as a team that does not exist at all.
    assert api_client.get("/api/v1/teams/no-such-team/").status_code == 404
    # And the members route does not leak it either.
    response = api_client.post(
        "/api/v1/teams/secret-team/members/", {"username": "alice", "role": "admin"}, format="json"
    )
    assert response.status_code == 404


def test_team_detail_lists_members_and_namespaces(api_client, user, ops):
    bob = make_user("bob")
    Membership.objects.create(team=ops, user=bob, role=Role.VIEWER)
    make_namespace(ops, "ops-prod")
    api_client.force_authenticate(bob)

    body = api_client.get("/api/v1/teams/ops/").json()

    assert body["name"] == "ops"
    assert body["my_role"] == "viewer"
    assert [(m["username"], m["role"]) for m in body["members"]] == [
        ("alice", "admin"),
        ("bob", "viewer"),
    ]
    assert body["namespaces"] == ["ops-prod"]


def test_staff_create_a_team_with_one_audit_record(api_client, staff_user):
    api_client.force_authenticate(staff_user)

    response = api_client.post("/api/v1/teams/", {"name": "dba"}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == "dba"
    team = Team.objects.get(name="dba")
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.target_type, event.target_id) == (
        "team.create",
        staff_user,
        "portal.team",
        str(team.pk),
    )
    assert event.ip_address == "127.0.0.1"


def test_non_staff_cannot_create_a_team(api_client, user, ops):
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/teams/", {"name": "mine"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert not Team.objects.filter(name="mine").exists()


def test_bad_and_duplicate_team_names(api_client, staff_user, ops):
    api_client.force_authenticate(staff_user)
    bad = api_client.post("/api/v1/teams/", {"name": "Not A Slug"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid"
    duplicate = api_client.post("/api/v1/teams/", {"name": "ops"}, format="json")
    assert duplicate.status_code == 409
    assert AuditEvent.objects.count() == 0


def test_team_admin_adds_changes_and_removes_a_member(api_client, user, ops):
    bob = make_user("bob")
    api_client.force_authenticate(user)

    added = api_client.post(
        "/api/v1/teams/ops/members/", {"username": "bob", "role": "viewer"}, format="json"
    )
    assert added.status_code == 201
    assert added.json() == {
        "username": "bob",
        "role": "viewer",
        "joined_at": added.json()["joined_at"],
    }

    changed = api_client.post(
        "/api/v1/teams/ops/members/", {"username": "bob", "role": "operator"}, format="json"
    )
    assert changed.status_code == 200
    assert Membership.objects.get(team=ops, user=bob).role == Role.OPERATOR

    unchanged = api_client.post(
        "/api/v1/teams/ops/members/", {"username": "bob", "role": "operator"}, format="json"
    )
    assert unchanged.status_code == 200

    removed = api_client.delete("/api/v1/teams/ops/members/bob/")
    assert removed.status_code == 204
    assert not Membership.objects.filter(team=ops, user=bob).exists()

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        "membership.add",
        "membership.change",
        "membership.remove",
    ]
    for event in events:
        assert event.actor == user
        assert event.target_type == "portal.team"
        assert event.target_id == str(ops.pk)
        assert event.ip_address == "127.0.0.1"
        assert event.detail["username"] == "bob"
    assert events[1].detail == {"username": "bob", "role": "operator", "previous": "viewer"}


def test_viewer_sees_the_team_but_cannot_add_members(api_client, ops):
    viewer = make_user("vic")
    make_user("bob")
    Membership.objects.create(team=ops, user=viewer, role=Role.VIEWER)
    api_client.force_authenticate(viewer)

    assert api_client.get("/api/v1/teams/ops/").status_code == 200
    response = api_client.post(
        "/api/v1/teams/ops/members/", {"username": "bob", "role": "admin"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert "admin" in response.json()["detail"]
    assert api_client.delete("/api/v1/teams/ops/members/alice/").status_code == 403
    assert ops.memberships.count() == 2
    assert AuditEvent.objects.count() == 0


def test_operator_cannot_manage_members(api_client, ops):
    operator = make_user("olga")
    Membership.objects.create(team=ops, user=operator, role=Role.OPERATOR)
    api_client.force_authenticate(operator)
    response = api_client.post(
        "/api/v1/teams/ops/members/", {"username": "olga", "role": "admin"}, format="json"
    )
    assert response.status_code == 403


def test_staff_manage_members_of_any_team(api_client, staff_user):
    make_team("dba")
    make_user("bob")
    api_client.force_authenticate(staff_user)
    response = api_client.post(
        "/api/v1/teams/dba/members/", {"username": "bob", "role": "admin"}, format="json"
    )
    assert response.status_code == 201


def test_unknown_user_and_bad_role_are_400(api_client, user, ops):
    api_client.force_authenticate(user)
    unknown = api_client.post(
        "/api/v1/teams/ops/members/", {"username": "ghost", "role": "viewer"}, format="json"
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "invalid"
    assert "ghost" in unknown.json()["detail"]

    make_user("bob")
    bad_role = api_client.post(
        "/api/v1/teams/ops/members/", {"username": "bob", "role": "owner"}, format="json"
    )
    assert bad_role.status_code == 400
    assert bad_role.json()["detail"].startswith("role:")
    assert "fields" in bad_role.json()


def test_last_admin_cannot_be_removed_or_demoted(api_client, user, ops):
    api_client.force_authenticate(user)

    removed = api_client.delete("/api/v1/teams/ops/members/alice/")
    demoted = api_client.post(
        "/api/v1/teams/ops/members/", {"username": "alice", "role": "viewer"}, format="json"
    )

    assert removed.status_code == 409
    assert demoted.status_code == 409
    assert "last admin" in removed.json()["detail"]
    assert Membership.objects.get(team=ops, user=user).role == Role.ADMIN


def test_removing_a_non_member_is_404(api_client, user, ops):
    make_user("bob")
    api_client.force_authenticate(user)
    assert api_client.delete("/api/v1/teams/ops/members/bob/").status_code == 404


def test_members_list_is_paginated(api_client, user, ops):
    api_client.force_authenticate(user)
    body = api_client.get("/api/v1/teams/ops/members/").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["results"][0]["username"] == "alice"


def test_team_admin_updates_the_description(api_client, user, ops):
    api_client.force_authenticate(user)
    response = api_client.patch("/api/v1/teams/ops/", {"description": "On call"}, format="json")
    assert response.status_code == 200
    assert response.json()["description"] == "On call"
    event = AuditEvent.objects.get(action="team.update")
    assert event.detail == {"description": {"from": "", "to": "On call"}}


def test_team_delete_is_refused_while_it_owns_namespaces(api_client, staff_user):
    team = make_team("dba")
    make_namespace(team, "dba-prod")
    api_client.force_authenticate(staff_user)

    refused = api_client.delete("/api/v1/teams/dba/")
    assert refused.status_code == 409
    assert "dba-prod" in refused.json()["detail"]

    team.namespaces.all().delete()
    assert api_client.delete("/api/v1/teams/dba/").status_code == 204
    assert not Team.objects.filter(name="dba").exists()
    assert AuditEvent.objects.get().action == "team.delete"


def test_team_admin_cannot_delete_the_team(api_client, user, ops):
    api_client.force_authenticate(user)
    assert api_client.delete("/api/v1/teams/ops/").status_code == 403


def test_member_count_counts_every_member_for_a_non_staff_viewer(api_client, user, ops):
    for name in ("m1", "m2"):
        Membership.objects.create(team=ops, user=make_user(name), role=Role.VIEWER)
    api_client.force_authenticate(user)

    listed = api_client.get("/api/v1/teams/").json()["results"]

    assert [(t["name"], t["member_count"]) for t in listed] == [("ops", 3)]
