"""Tokens through the API: create, use, expire, revoke."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import ApiToken, AuditEvent
from tests.factories import make_token, make_user

pytestmark = pytest.mark.django_db


def bearer(client, secret):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_token_created_through_the_api_works_and_is_stored_as_a_digest(api_client, user):
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/tokens/", {"name": "ci", "days": 7}, format="json")

    assert response.status_code == 201
    body = response.json()
    secret = body["token"]
    assert secret.startswith("omk_")
    assert body["name"] == "ci"
    assert body["status"] == "active"
    assert response["Cache-Control"] == "no-store"
    stored = ApiToken.objects.get(user=user, name="ci")
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {stored.digest, stored.prefix}
    assert stored.expires_at is not None
    assert timedelta(days=6, hours=23) < stored.expires_at - timezone.now() <= timedelta(days=7)

    fresh = bearer(type(api_client)(), secret)
    assert fresh.get("/api/v1/tokens/").status_code == 200


def test_secret_never_appears_in_lists_or_the_audit_log(api_client, user):
    api_client.force_authenticate(user)
    secret = api_client.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()["token"]
    digest = hashlib.sha256(secret.encode()).hexdigest()

    listing = api_client.get("/api/v1/tokens/")
    assert listing.status_code == 200
    assert secret not in listing.content.decode()
    assert digest not in listing.content.decode()
    assert set(listing.json()["results"][0]) == {
        "id",
        "name",
        "prefix",
        "status",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    }
    for event in AuditEvent.objects.all():
        dumped = json.dumps(event.detail)
        assert secret not in dumped
        assert digest not in dumped


def test_good_token_gets_200(api_client, user):
    secret = make_token(user)
    response = bearer(api_client, secret).get("/api/v1/teams/")
    assert response.status_code == 200


def test_expired_token_gets_401(api_client, user):
    secret = make_token(user, "old")
    ApiToken.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(seconds=1))

    response = bearer(api_client, secret).get("/api/v1/teams/")

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_revoked_token_gets_401(api_client, user):
    secret = make_token(user, "ci")
    token = ApiToken.objects.get(name="ci")
    bearer(api_client, secret)

    assert api_client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.status == "revoked"

    response = api_client.get("/api/v1/teams/")
    assert response.status_code == 401
    assert set(response.json()) >= {"error", "detail"}


def test_unknown_token_gets_401(api_client, db):
    response = bearer(api_client, "omk_not-a-real-token").get("/api/v1/teams/")
    assert response.status_code == 401


def test_revoking_another_users_token_answers_404_and_leaves_it(api_client, user):
    other = make_user("bob")
    make_token(other, "theirs")
    theirs = ApiToken.objects.get(name="theirs")
    api_client.force_authenticate(user)

    assert api_client.delete(f"/api/v1/tokens/{theirs.pk}/").status_code == 404
    assert api_client.get(f"/api/v1/tokens/{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_staff_do_not_see_other_users_tokens_through_the_api(api_client, staff_user, user):
    make_token(user, "alices")
    api_client.force_authenticate(staff_user)
    assert api_client.get("/api/v1/tokens/").json()["count"] == 0


def test_create_and_revoke_each_leave_one_audit_record(api_client, user):
    api_client.force_authenticate(user)
    created = api_client.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()
    api_client.delete(f"/api/v1/tokens/{created['id']}/")
    api_client.delete(f"/api/v1/tokens/{created['id']}/")  # again: no second record

    create = AuditEvent.objects.get(action="token.create")
    revoke = AuditEvent.objects.get(action="token.revoke")
    for event in (create, revoke):
        assert event.actor == user
        assert event.target_type == "portal.apitoken"
        assert event.target_id == str(created["id"])
        assert event.ip_address == "127.0.0.1"
        assert event.via == "api"


def test_duplicate_token_name_is_a_409(api_client, user):
    api_client.force_authenticate(user)
    api_client.post("/api/v1/tokens/", {"name": "ci"}, format="json")
    response = api_client.post("/api/v1/tokens/", {"name": "ci"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "ci" in response.json()["detail"]


def test_bad_days_is_a_400_with_the_error_shape(api_client, user):
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/tokens/", {"name": "ci", "days": 0}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert body["detail"].startswith("days:")


def test_a_token_cannot_mint_a_token_that_outlives_it(api_client, user):
    secret = make_token(user, "short", days=1)
    bearer(api_client, secret)

    refused = api_client.post("/api/v1/tokens/", {"name": "long", "days": 30}, format="json")
    assert refused.status_code == 400
    assert "outlives" in refused.json()["detail"]

    # Through a token, the new one's audit record names the token that made it.
    allowed = api_client.post("/api/v1/tokens/", {"name": "shorter", "days": 1}, format="json")
    assert allowed.status_code == 400  # now + 1 day is a moment after the parent's expiry
    ApiToken.objects.filter(name="short").update(expires_at=timezone.now() + timedelta(days=2))
    allowed = api_client.post("/api/v1/tokens/", {"name": "shorter", "days": 1}, format="json")
    assert allowed.status_code == 201
    event = AuditEvent.objects.get(action="token.create", target_id=str(allowed.json()["id"]))
    assert event.token_label == "short"


def test_tokens_list_is_paginated(api_client, user):
    for index in range(3):
        make_token(user, f"t{index}")
    api_client.force_authenticate(user)
    body = api_client.get("/api/v1/tokens/?page_size=2").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"] is not None
    assert body["previous"] is None


def test_anonymous_gets_401_with_the_error_shape(api_client, db):
    response = api_client.get("/api/v1/tokens/")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert isinstance(response.json()["detail"], str)
