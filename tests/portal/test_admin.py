"""The admin console: every model registered, every change audited once."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

from deployments.models import Cluster, Namespace
from portal.crypto import encrypt_json
from portal.models import ApiToken, AuditEvent, Membership, Role, Team
from tests.factories import make_namespace, make_team, make_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff_user):
    client.force_login(staff_user)
    return client


def inline_data(team=None, rows=(), prefix="memberships"):
    """Management form plus rows for the Membership inline of the team admin."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(sum(1 for r in rows if r.get("id"))),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{index}-{key}"] = value
        if team is not None:
            data[f"{prefix}-{index}-team"] = str(team.pk)
    return data


def test_every_portal_and_market_model_is_registered():
    for label in ("portal", "market"):
        for model in apps.get_app_config(label).get_models():
            assert admin.site.is_registered(model), model


@pytest.mark.parametrize(
    "url",
    [
        "/admin/portal/team/",
        "/admin/portal/membership/",
        "/admin/portal/apitoken/",
        "/admin/portal/auditevent/",
        "/admin/deployments/namespace/",
        "/admin/market/market/",
        "/admin/auth/user/",
        "/admin/portal/apitoken/?status=active",
        "/admin/portal/auditevent/?q=alice",
    ],
)
def test_changelists_render(admin_client, user, url):
    team = make_team("ops", members={user: Role.ADMIN})
    make_namespace(team, "ops-prod")
    make_token(user, "ci")
    assert admin_client.get(url).status_code == 200


def test_adding_a_team_with_a_member_in_the_admin_audits_each_change(
    admin_client, staff_user, user
):
    data = {"name": "dba", "description": "Databases"}
    data.update(inline_data(rows=[{"user": str(user.pk), "role": Role.ADMIN}]))

    response = admin_client.post("/admin/portal/team/add/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    team = Team.objects.get(name="dba")
    assert Membership.objects.get(team=team).user == user
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == ["team.create", "membership.add"]
    for event in events:
        assert (event.actor, event.via, event.ip_address) == (staff_user, "admin", "127.0.0.1")
        assert event.target_id == str(team.pk)


def test_changing_a_role_and_description_in_the_admin(admin_client, user):
    team = make_team("ops", members={user: Role.ADMIN})
    bob = make_user("bob")
    Membership.objects.create(team=team, user=bob, role=Role.VIEWER)
    alice_row, bob_row = team.memberships.order_by("user__username")
    data = {"description": "On call"}
    data.update(
        inline_data(
            team,
            rows=[
                {"id": str(alice_row.pk), "user": str(user.pk), "role": Role.ADMIN},
                {"id": str(bob_row.pk), "user": str(bob.pk), "role": Role.OPERATOR},
            ],
        )
    )

    response = admin_client.post(f"/admin/portal/team/{team.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Membership.objects.get(team=team, user=bob).role == Role.OPERATOR
    assert [e.action for e in AuditEvent.objects.order_by("id")] == [
        "team.update",
        "membership.change",
    ]


def test_handing_over_admin_in_one_admin_save(admin_client, user):
    team = make_team("ops", members={user: Role.ADMIN})
    bob = make_user("bob")
    Membership.objects.create(team=team, user=bob, role=Role.VIEWER)
    alice_row, bob_row = team.memberships.order_by("user__username")
    data = {"description": ""}
    data.update(
        inline_data(
            team,
            rows=[
                {"id": str(alice_row.pk), "user": str(user.pk), "role": Role.ADMIN, "DELETE": "on"},
                {"id": str(bob_row.pk), "user": str(bob.pk), "role": Role.ADMIN},
            ],
        )
    )

    admin_client.post(f"/admin/portal/team/{team.pk}/change/", data)

    assert list(team.memberships.values_list("user__username", "role")) == [("bob", "admin")]
    assert [e.action for e in AuditEvent.objects.order_by("id")] == [
        "membership.change",
        "membership.remove",
    ]


def test_deleting_a_team_in_the_admin_is_audited(admin_client):
    team = make_team("dba")
    response = admin_client.post(f"/admin/portal/team/{team.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()
    assert AuditEvent.objects.get().action == "team.delete"


def test_namespace_add_change_delete_in_the_admin(admin_client):
    ops = make_team("ops")
    dba = make_team("dba")

    admin_client.post(
        "/admin/deployments/namespace/add/",
        {"name": "shared", "team": str(ops.pk), "target": "gitops", "description": ""},
    )
    namespace = Namespace.objects.get(name="shared")
    admin_client.post(
        f"/admin/deployments/namespace/{namespace.pk}/change/",
        {"team": str(dba.pk), "description": "moved"},
    )
    namespace.refresh_from_db()
    assert namespace.team == dba
    admin_client.post(f"/admin/deployments/namespace/{namespace.pk}/delete/", {"post": "yes"})

    assert not Namespace.objects.exists()
    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        "namespace.create",
        "namespace.update",
        "namespace.delete",
    ]
    assert events[1].detail["team"] == {"from": "ops", "to": "dba"}
    assert all(e.via == "admin" for e in events)


def test_token_admin_shows_no_digest_and_revokes_through_the_service(admin_client, user):
    secret = make_token(user, "ci")
    token = ApiToken.objects.get(name="ci")
    AuditEvent.objects.all().delete()

    listing = admin_client.get("/admin/portal/apitoken/").content.decode()
    detail = admin_client.get(f"/admin/portal/apitoken/{token.pk}/change/").content.decode()
    for page in (listing, detail):
        assert token.digest not in page
        assert secret not in page
    assert token.prefix in listing

    response = admin_client.post(
        "/admin/portal/apitoken/",
        {"action": "revoke_selected", "_selected_action": [str(token.pk)]},
    )

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.status == "revoked"
    event = AuditEvent.objects.get()
    assert (event.action, event.via) == ("token.revoke", "admin")


def test_tokens_cannot_be_added_or_deleted_in_the_admin(admin_client, user):
    make_token(user, "ci")
    token = ApiToken.objects.get(name="ci")
    assert admin_client.get("/admin/portal/apitoken/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/portal/apitoken/{token.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )


def test_audit_events_are_read_only_in_the_admin(admin_client, user):
    team = make_team("ops")
    from portal.actors import Actor
    from portal.services.audit import audit_record

    event = audit_record(actor=Actor(user=user), action="team.update", target=team)
    assert admin_client.get(f"/admin/portal/auditevent/{event.pk}/change/").status_code == 200
    assert admin_client.get("/admin/portal/auditevent/add/").status_code == 403
    assert (
        admin_client.post(
            f"/admin/portal/auditevent/{event.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    admin_client.post(f"/admin/portal/auditevent/{event.pk}/change/", {"action": "forged"})
    event.refresh_from_db()
    assert event.action == "team.update"
    assert AuditEvent.objects.count() == 1


def test_user_edits_in_the_admin_are_audited_without_secrets(admin_client, user):
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {
            "password1": "a-new-Passw0rd!x",
            "password2": "a-new-Passw0rd!x",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    event = AuditEvent.objects.get()
    assert (event.action, event.target_type, event.via) == ("user.update", "auth.user", "admin")
    assert "a-new-Passw0rd" not in str(event.detail)


def test_a_kubernetes_namespace_added_in_the_admin_needs_a_cluster(admin_client):
    ops = make_team("ops")
    cluster = Cluster.objects.create(
        name="prod", server="https://k8s.example.test:6443", token_encrypted=encrypt_json("x")
    )
    fields = {"name": "shop", "team": str(ops.pk), "target": "kubernetes", "description": ""}

    refused = admin_client.post("/admin/deployments/namespace/add/", fields)

    assert refused.status_code == 200
    assert "needs a cluster" in refused.content.decode()
    assert not Namespace.objects.exists()

    admin_client.post("/admin/deployments/namespace/add/", {**fields, "cluster": str(cluster.pk)})

    assert Namespace.objects.get(name="shop").cluster == cluster
    assert AuditEvent.objects.get(action="namespace.create").detail["cluster"] == "prod"
