"""The profile page: list, create (secret shown once) and revoke tokens."""

from __future__ import annotations

import hashlib
import re

import pytest

from portal.models import ApiToken, AuditEvent
from tests.factories import make_token, make_user

pytestmark = pytest.mark.django_db


def test_profile_needs_a_login(client):
    response = client.get("/accounts/profile/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_profile_lists_own_tokens_with_their_status(client, user):
    make_token(user, "ci")
    make_token(user, "old")
    ApiToken.objects.filter(name="old").update(revoked_at="2020-01-01T00:00:00Z")
    make_token(make_user("bob"), "bobs")
    client.force_login(user)

    page = client.get("/accounts/profile/").content.decode()

    assert 'data-token="ci"' in page
    assert 'data-token="old"' in page
    assert "bobs" not in page
    assert "status-badge--success" in page or "Active" in page
    assert "Revoked" in page


def test_creating_a_token_shows_the_secret_once(client, user):
    client.force_login(user)

    response = client.post("/accounts/profile/tokens/", {"name": "ci", "days": 30})

    assert response.status_code == 200
    assert (
        response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    )
    found = re.search(r"omk_[A-Za-z0-9_\-]+", response.content.decode())
    assert found is not None
    secret = found.group(0)
    token = ApiToken.objects.get(user=user, name="ci")
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in client.get("/accounts/profile/").content.decode()
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.via, event.ip_address) == (
        "token.create",
        user,
        "web",
        "127.0.0.1",
    )


def test_duplicate_name_is_shown_on_the_form(client, user):
    make_token(user, "ci")
    client.force_login(user)
    response = client.post("/accounts/profile/tokens/", {"name": "ci", "days": 30})
    assert response.status_code == 400
    assert "already has a token named" in response.content.decode()
    assert ApiToken.objects.filter(user=user).count() == 1


def test_revoking_from_the_profile(client, user):
    make_token(user, "ci")
    token = ApiToken.objects.get(name="ci")
    client.force_login(user)

    response = client.post(f"/accounts/profile/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.status == "revoked"
    assert AuditEvent.objects.filter(action="token.revoke").count() == 1


def test_revoking_someone_elses_token_is_404(client, user):
    make_token(make_user("bob"), "bobs")
    token = ApiToken.objects.get(name="bobs")
    client.force_login(user)
    assert client.post(f"/accounts/profile/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_forms_carry_csrf_protection(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/accounts/profile/").content.decode()
    assert "csrfmiddlewaretoken" in page
    assert client.post("/accounts/profile/tokens/", {"name": "x", "days": 1}).status_code == 403
    assert not ApiToken.objects.exists()
