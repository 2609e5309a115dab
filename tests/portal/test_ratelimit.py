"""Failed logins and failed token uses are limited per client address."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.factories import PASSWORD, make_token

pytestmark = pytest.mark.django_db
LIMIT = 3


@override_settings(AUTH_FAILURE_LIMIT=LIMIT)
def test_after_too_many_bad_tokens_a_bad_token_gets_429(api_client, user):
    for _ in range(LIMIT):
        api_client.credentials(HTTP_AUTHORIZATION="Bearer omk_wrong")
        assert api_client.get("/api/v1/teams/").status_code == 401

    response = api_client.get("/api/v1/teams/")

    assert response.status_code == 429
    assert response.json()["error"] == "throttled"
    assert isinstance(response.json()["detail"], str)


@override_settings(AUTH_FAILURE_LIMIT=LIMIT)
def test_token_failures_are_counted_per_address(api_client, user):
    good = make_token(user)
    for _ in range(LIMIT):
        api_client.credentials(HTTP_AUTHORIZATION="Bearer omk_wrong")
        api_client.get("/api/v1/teams/", REMOTE_ADDR="10.0.0.1")

    assert api_client.get("/api/v1/teams/", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert api_client.get("/api/v1/teams/", REMOTE_ADDR="10.0.0.2").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")
    assert api_client.get("/api/v1/teams/", REMOTE_ADDR="10.0.0.1").status_code == 200


@override_settings(AUTH_FAILURE_LIMIT=LIMIT)
def test_after_too_many_failed_logins_the_login_answers_429_without_checking(client, user):
    for _ in range(LIMIT):
        response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
        assert response.status_code == 200
        assert not response.wsgi_request.user.is_authenticated

    # The right password does not get in either: the password is not even checked.
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


@override_settings(AUTH_FAILURE_LIMIT=LIMIT)
def test_admin_login_shares_the_limit(client, staff_user):
    for _ in range(LIMIT):
        client.post("/accounts/login/", {"username": "root", "password": "nope"})
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


def test_good_login_under_the_limit_works(client, user):
    client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_logout_is_a_post(client, user):
    client.force_login(user)
    assert client.get("/accounts/logout/").status_code == 405
    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
