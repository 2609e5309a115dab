"""Team pages: visibility, roles and the changes they make."""

from __future__ import annotations

import pytest

from deployments.models import Namespace
from portal.models import AuditEvent, Membership, Role, Team
from tests.factories import make_namespace, make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(user):
    return make_team("ops", members={user: Role.ADMIN})


def test_team_list_shows_only_my_teams(client, user, ops):
    make_team("secret-team")
    client.force_login(user)
    page = client.get("/teams/").content.decode()
    assert "/teams/ops/" in page
    assert "secret-team" not in page


def test_another_teams_page_and_forms_answer_404(client, user, ops):
    other = make_team("secret-team")
    make_namespace(other, "secret-ns")
    make_user("bob")
    client.force_login(user)

    assert client.get("/teams/secret-team/").status_code == 404
    assert client.get("/teams/no-such/").status_code == 404
    assert (
        client.post("/teams/secret-team/members/", {"username": "bob", "role": "admin"}).status_code
        == 404
    )
    assert client.post("/teams/secret-team/namespaces/", {"name": "x"}).status_code == 404
    assert not AuditEvent.objects.exists()


def test_team_page_shows_members_and_namespaces(client, user, ops):
    make_namespace(ops, "ops-prod")
    client.force_login(user)
    page = client.get("/teams/ops/").content.decode()
    assert 'data-member="alice"' in page
    assert 'data-namespace="ops-prod"' in page
    assert "Add member" in page
    assert "Create namespace" in page


def test_viewer_sees_the_team_without_forms_and_cannot_add_members(client, ops):
    viewer = make_user("vic")
    make_user("bob")
    Membership.objects.create(team=ops, user=viewer, role=Role.VIEWER)
    client.force_login(viewer)

    page = client.get("/teams/ops/")
    assert page.status_code == 200
    assert "Add member" not in page.content.decode()
    assert "Create namespace" not in page.content.decode()

    response = client.post("/teams/ops/members/", {"username": "bob", "role": "admin"})
    assert response.status_code == 403
    assert client.post("/teams/ops/members/alice/remove/").status_code == 403
    assert client.post("/teams/ops/namespaces/", {"name": "x"}).status_code == 403
    assert ops.memberships.count() == 2
    assert not AuditEvent.objects.exists()


def test_admin_adds_changes_and_removes_members(client, user, ops):
    bob = make_user("bob")
    client.force_login(user)

    assert (
        client.post("/teams/ops/members/", {"username": "bob", "role": "viewer"}).status_code == 302
    )
    assert Membership.objects.get(team=ops, user=bob).role == Role.VIEWER
    client.post("/teams/ops/members/", {"username": "bob", "role": "operator"})
    assert Membership.objects.get(team=ops, user=bob).role == Role.OPERATOR
    assert client.post("/teams/ops/members/bob/remove/").status_code == 302
    assert not Membership.objects.filter(team=ops, user=bob).exists()

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        "membership.add",
        "membership.change",
        "membership.remove",
    ]
    assert {(e.actor_id, e.via, e.ip_address, e.target_id) for e in events} == {
        (user.pk, "web", "127.0.0.1", str(ops.pk))
    }


def test_unknown_username_is_shown_on_the_form(client, user, ops):
    client.force_login(user)
    response = client.post("/teams/ops/members/", {"username": "ghost", "role": "viewer"})
    assert response.status_code == 400
    assert "No active user named" in response.content.decode()


def test_last_admin_removal_is_refused_with_a_message(client, user, ops):
    client.force_login(user)
    response = client.post("/teams/ops/members/alice/remove/", follow=True)
    assert "last admin" in response.content.decode()
    assert Membership.objects.filter(team=ops, user=user, role=Role.ADMIN).exists()


def test_operator_creates_a_namespace(client, ops):
    operator = make_user("olga")
    Membership.objects.create(team=ops, user=operator, role=Role.OPERATOR)
    client.force_login(operator)

    response = client.post("/teams/ops/namespaces/", {"name": "ops-dev", "description": "dev"})

    assert response.status_code == 302
    assert Namespace.objects.get(name="ops-dev").team == ops
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.target_type) == (
        "namespace.create",
        operator,
        "deployments.namespace",
    )


def test_bad_namespace_name_is_shown_on_the_form(client, user, ops):
    client.force_login(user)
    response = client.post("/teams/ops/namespaces/", {"name": "Bad Name"})
    assert response.status_code == 400
    assert "Namespace name" in response.content.decode()


def test_staff_create_teams_and_others_cannot(client, user, staff_user):
    client.force_login(user)
    assert client.get("/teams/new/").status_code == 403
    assert client.post("/teams/new/", {"name": "x"}).status_code == 403

    client.force_login(staff_user)
    assert client.get("/teams/new/").status_code == 200
    response = client.post("/teams/new/", {"name": "dba", "description": "Databases"})
    assert response.status_code == 302
    assert response["Location"] == "/teams/dba/"
    assert Team.objects.get(name="dba").description == "Databases"
    assert AuditEvent.objects.get().action == "team.create"

    reserved = client.post("/teams/new/", {"name": "new"})
    assert reserved.status_code == 400
    assert "reserved" in reserved.content.decode()


def test_team_admin_edits_the_description_and_staff_delete(client, user, staff_user, ops):
    client.force_login(user)
    client.post("/teams/ops/edit/", {"description": "On call"})
    ops.refresh_from_db()
    assert ops.description == "On call"
    assert client.post("/teams/ops/delete/").status_code == 403

    client.force_login(staff_user)
    assert client.post("/teams/ops/delete/").status_code == 302
    assert not Team.objects.filter(name="ops").exists()
    assert [e.action for e in AuditEvent.objects.order_by("id")] == ["team.update", "team.delete"]
