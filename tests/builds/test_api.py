"""`/api/v1/builds/`: 202 with the build, detail, list -- with permissions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from builds.models import Build
from builds.services.profiles import profile_create
from portal.actors import Actor
from portal.models import Role
from tests.builds.helpers import INTRANET, TPL_TEMPLATE, git_repo, run_build, tar_gz, write_source
from tests.factories import make_team, make_token, make_user

pytestmark = pytest.mark.django_db


def api_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    return client


@pytest.fixture
def operator() -> Any:
    user = make_user("olga")
    make_team("ops", members={user: Role.OPERATOR})
    return user


def test_multipart_build_is_accepted_then_followed(
    tmp_path: Path, operator: Any, staff_user: Any
) -> None:
    profile_create(actor=Actor(user=staff_user), name="intranet", values=INTRANET)
    source = write_source(tmp_path, files={"templates/deploy.yaml.tpl": TPL_TEMPLATE})
    client = api_for(operator)

    response = client.post(
        "/api/v1/builds/",
        {
            "archive": SimpleUploadedFile("src.tgz", tar_gz(source)),
            "profile": "intranet",
            "strict": "true",
            "overrides": json.dumps({"GOPROXY": "https://go.corp.example.net"}),
        },
        format="multipart",
    )

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["state"] == "queued" and body["profile"] == "intranet" and body["strict"]
    assert body["overrides"] == {"GOPROXY": "https://go.corp.example.net"}
    assert {"name": "GOPROXY", "value": "https://go.corp.example.net", "origin": "build"} in body[
        "resources"
    ]
    run_build(Build.objects.get(pk=body["id"]))
    detail = client.get(f"/api/v1/builds/{body['id']}/").json()
    assert detail["state"] == "succeeded", detail["error"]
    assert detail["digest"].startswith("sha256:") and detail["lint_report"] == []
    assert detail["download_url"] == f"/builds/{body['id']}/download/"
    assert "build succeeded" in detail["log"]
    listing = client.get("/api/v1/builds/").json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == body["id"]


def test_json_git_build(tmp_path: Path, staff_user: Any) -> None:
    source = write_source(tmp_path)
    sha = git_repo(source)

    response = api_for(staff_user).post(
        "/api/v1/builds/", {"git_url": f"file://{source}", "ref": sha}, format="json"
    )

    assert response.status_code == 202, response.content
    build = run_build(Build.objects.get(pk=response.json()["id"]))
    assert build.state == "succeeded", build.error
    assert build.commit_sha == sha


def test_refusals(tmp_path: Path, operator: Any) -> None:
    client = api_for(operator)
    viewer = make_user("vic")
    make_team("readers", members={viewer: Role.VIEWER})

    forbidden = api_for(viewer).post(
        "/api/v1/builds/", {"git_url": "https://x.org/r"}, format="json"
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["error"] == "permission_denied"
    nothing = client.post("/api/v1/builds/", {}, format="json")
    assert (
        nothing.status_code == 400 and "either an archive or a git_url" in nothing.json()["detail"]
    )
    unknown = client.post(
        "/api/v1/builds/", {"git_url": "https://8.8.8.8/r.git", "profile": "nope"}, format="json"
    )
    assert (
        unknown.status_code == 400 and "no resource profile named nope" in unknown.json()["detail"]
    )
    private = client.post("/api/v1/builds/", {"git_url": "http://127.0.0.1/r.git"}, format="json")
    assert private.status_code == 400 and "loopback" in private.json()["detail"]
    assert not Build.objects.exists()


def test_other_users_builds_are_404(tmp_path: Path, operator: Any) -> None:
    response = api_for(operator).post(
        "/api/v1/builds/",
        {"archive": SimpleUploadedFile("s.tgz", tar_gz(write_source(tmp_path)))},
        format="multipart",
    )
    other = make_user("otto")
    make_team("other", members={other: Role.OPERATOR})
    client = api_for(other)

    assert client.get(f"/api/v1/builds/{response.json()['id']}/").status_code == 404
    assert client.get("/api/v1/builds/").json()["count"] == 0
