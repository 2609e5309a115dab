"""Hostile requests get a `{error, detail}` answer with a 4xx status, never a 500
(issue 11, item 6)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from portal.models import Role
from tests.factories import make_team, make_token, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user: Any) -> APIClient:
    make_team("ops", members={user: Role.ADMIN})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    return client


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _assert_error_shape(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and isinstance(body["detail"], str)
    assert "\n" not in body["detail"]
    return dict(body)


@pytest.mark.parametrize("path", ["/api/v1/namespaces/", "/api/v1/tokens/", "/api/v1/builds/"])
@pytest.mark.parametrize("depth", [200, 2000])
def test_deeply_nested_json_is_a_400(api: APIClient, path: str, depth: int) -> None:
    body = '{"name": ' + _nested(depth) + "}"
    response = api.generic("POST", path, body, content_type="application/json")
    detail = _assert_error_shape(response, 400)["detail"]
    assert "nested" in detail


def test_json_nested_within_the_limit_is_parsed(api: APIClient) -> None:
    body = '{"name": ' + _nested(20) + "}"
    response = api.generic("POST", "/api/v1/namespaces/", body, content_type="application/json")
    # Parsed, then refused by the service for what it is: a list, not a name.
    body_json = _assert_error_shape(response, 400)
    assert "nested" not in body_json["detail"]


@pytest.mark.parametrize(
    "path", ["/api/v1/namespaces/", "/api/v1/teams/", "/api/v1/teams/ops/members/"]
)
def test_options_answers_without_a_server_error(api: APIClient, path: str) -> None:
    response = api.options(path)
    assert response.status_code == 200, response.content[:300]
    assert "GET" in response["Allow"]


def test_a_body_over_the_limit_is_a_json_413(api: APIClient, settings: Any) -> None:
    body = '{"name": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    response = api.generic("POST", "/api/v1/namespaces/", body, content_type="application/json")
    _assert_error_shape(response, 413)


def test_a_form_body_over_the_limit_is_a_json_413(api: APIClient, settings: Any) -> None:
    body = "name=" + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    response = api.generic(
        "POST", "/api/v1/namespaces/", body, content_type="application/x-www-form-urlencoded"
    )
    _assert_error_shape(response, 413)


def test_an_unknown_api_path_is_a_json_404(api: APIClient) -> None:
    _assert_error_shape(api.get("/api/v1/no-such-thing/"), 404)


def test_an_id_too_large_for_the_database_is_a_404(api: APIClient) -> None:
    _assert_error_shape(api.get("/api/v1/operations/" + "9" * 25 + "/"), 404)
    _assert_error_shape(api.delete("/api/v1/tokens/" + "9" * 25 + "/"), 404)
    _assert_error_shape(api.get("/api/v1/builds/" + "9" * 25 + "/"), 404)


def test_anonymous_options_is_401_json() -> None:
    make_user("bob")
    response = APIClient().options("/api/v1/namespaces/")
    _assert_error_shape(response, 401)


@pytest.mark.parametrize("query", ["q=a%00b", "market=a%00b", "category=x&a%00=1"])
def test_a_nul_character_in_the_query_is_a_400(api: APIClient, query: str) -> None:
    # Found by tests/portal/test_api_fuzz.py: PostgreSQL refuses NUL in text (a 500).
    detail = _assert_error_shape(api.get("/api/v1/apps/?" + query), 400)["detail"]
    assert "NUL" in detail


def test_a_nul_character_in_a_page_query_is_a_400(client: Any, user: Any) -> None:
    client.force_login(user)
    assert client.get("/search/?q=a%00b").status_code == 400
