"""The OpenAPI document at /api/v1/schema/ describes the accounts, teams and tokens API."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/v1/teams/": {"get", "post"},
    "/api/v1/teams/{team}/": {"get", "patch", "delete"},
    "/api/v1/teams/{team}/members/": {"get", "post"},
    "/api/v1/teams/{team}/members/{username}/": {"get", "delete"},
    "/api/v1/namespaces/": {"get", "post"},
    "/api/v1/namespaces/{namespace}/": {"get"},
    "/api/v1/tokens/": {"get", "post"},
    "/api/v1/tokens/{token_id}/": {"get", "delete"},
}


@pytest.fixture
def schema(api_client, user):
    api_client.force_authenticate(user)
    response = api_client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_a_valid_openapi_3_document(schema):
    # Installed with moto[server]; without it, the structural checks below still run.
    validator = pytest.importorskip("openapi_spec_validator")

    assert schema["openapi"].startswith("3.")
    validator.validate(schema)


def test_schema_lists_every_endpoint_with_its_methods(schema):
    for path, methods in PATHS.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), path


def test_schema_documents_request_bodies_paginated_lists_and_errors(schema):
    components = schema["components"]["schemas"]
    create = schema["paths"]["/api/v1/tokens/"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/TokenCreateInput")
    created = create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert "token" in components[created.rsplit("/", 1)[1]]["properties"]
    listing = schema["paths"]["/api/v1/tokens/"]["get"]["responses"]["200"]
    paginated = listing["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"count", "next", "previous", "results"} <= set(components[paginated]["properties"])
    assert "token" not in components["TokenOutput"]["properties"]
    assert "digest" not in components["TokenOutput"]["properties"]
    member_post = schema["paths"]["/api/v1/teams/{team}/members/"]["post"]["responses"]
    assert {"201", "400", "403", "404"} <= set(member_post)
    assert {"error", "detail"} <= set(components["Error"]["properties"])
    assert "bearerAuth" in schema["components"]["securitySchemes"]
