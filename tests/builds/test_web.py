"""The builds pages as a user meets them: who may build, whose builds they see,
profiles edited by staff and audited, downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from builds.models import Build, ResourceProfile
from portal.models import AuditEvent, Role
from tests.builds.helpers import PUBLIC_TEMPLATE, run_build, tar_gz, write_source
from tests.factories import PASSWORD, make_team, make_user

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def operator() -> Any:
    user = make_user("olga")
    make_team("ops", members={user: Role.OPERATOR})
    return user


@pytest.fixture
def viewer() -> Any:
    user = make_user("vic")
    make_team("readers", members={user: Role.VIEWER})
    return user


def post_build(client: Client, data: bytes, **fields: Any) -> Any:
    upload = SimpleUploadedFile("src.tgz", data, content_type="application/gzip")
    return client.post("/builds/new/", {"archive": upload, **fields})


def test_operator_builds_from_the_form_and_follows_it(tmp_path: Path, operator: Any) -> None:
    client = client_for(operator)
    source = write_source(tmp_path, files={"templates/deploy.yaml": PUBLIC_TEMPLATE})

    response = post_build(client, tar_gz(source))

    assert response.status_code == 302
    build = Build.objects.get()
    assert response["Location"] == f"/builds/{build.pk}/"
    queued = client.get(f"/builds/{build.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' in queued  # polls while queued
    run_build(build)
    page = client.get(f"/builds/{build.pk}/").content.decode()
    assert 'hx-trigger="every 2s"' not in page
    assert "templates/deploy.yaml:11</code> <strong>pypi.org</strong>" in page
    assert "Warnings: this build was not strict." in page
    assert f"/builds/{build.pk}/download/" in page
    download = client.get(f"/builds/{build.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].endswith('filename="mirror-test-1.0.0.tgz"')
    assert b"".join(download.streaming_content).startswith(b"\x1f\x8b")  # type: ignore[attr-defined]
    listing = client.get("/builds/").content.decode()
    assert f'data-build="{build.pk}"' in listing


def test_a_viewer_cannot_build(tmp_path: Path, viewer: Any) -> None:
    client = client_for(viewer)
    assert client.get("/builds/new/").status_code == 403
    assert post_build(client, tar_gz(write_source(tmp_path))).status_code == 403
    assert not Build.objects.exists()
    assert "New build" not in client.get("/builds/").content.decode()


def test_another_users_build_is_404_and_not_listed(
    tmp_path: Path, operator: Any, staff_user: Any
) -> None:
    post_build(client_for(operator), tar_gz(write_source(tmp_path)))
    build = run_build(Build.objects.get())
    other = make_user("otto")
    make_team("other", members={other: Role.ADMIN})
    client = client_for(other)

    assert client.get(f"/builds/{build.pk}/").status_code == 404
    assert client.get(f"/builds/{build.pk}/download/").status_code == 404
    assert f'data-build="{build.pk}"' not in client.get("/builds/").content.decode()
    # Staff see every build.
    assert client_for(staff_user).get(f"/builds/{build.pk}/").status_code == 200


def test_form_refusals_show_next_to_the_form(tmp_path: Path, operator: Any) -> None:
    client = client_for(operator)
    both = post_build(client, tar_gz(write_source(tmp_path)), git_url="https://x.example/r.git")
    assert both.status_code == 400
    assert "Give either a source archive or a git repository." in both.content.decode()
    bad = post_build(client, tar_gz(write_source(tmp_path)), overrides="NOT A LINE")
    assert bad.status_code == 400 and "write NAME=value" in bad.content.decode()
    lower = post_build(client, tar_gz(write_source(tmp_path)), overrides="lower=1")
    assert lower.status_code == 400 and "not a variable name" in lower.content.decode()


def test_staff_create_and_edit_profiles_audited(staff_user: Any, operator: Any) -> None:
    client = client_for(staff_user)
    created = client.post(
        "/builds/profiles/new/",
        {
            "name": "intranet",
            "description": "Corp mirrors",
            "values": "PYTHON_PIP=https://pypi.corp.example.net/simple\n# comment\n",
            "allowed_hosts": "*.corp.example.net\nfiles.corp.example.net",
        },
    )
    assert created.status_code == 302
    profile = ResourceProfile.objects.get(name="intranet")
    assert profile.values == {"PYTHON_PIP": "https://pypi.corp.example.net/simple"}
    assert profile.allowed_hosts == ["*.corp.example.net", "files.corp.example.net"]
    edited = client.post(
        "/builds/profiles/intranet/edit/",
        {
            "name": "ignored",
            "description": "",
            "values": "GOPROXY=https://go.corp",
            "allowed_hosts": "",
        },
    )
    assert edited.status_code == 302
    profile.refresh_from_db()
    assert profile.name == "intranet" and profile.values == {"GOPROXY": "https://go.corp"}
    actions = list(
        AuditEvent.objects.filter(target_id=str(profile.pk)).values_list("action", flat=True)
    )
    assert sorted(actions) == ["resource_profile.create", "resource_profile.update"]
    page = client.get("/builds/profiles/").content.decode()
    assert "GOPROXY=https://go.corp" in page and "go.corp" in page

    operator_client = client_for(operator)
    assert operator_client.get("/builds/profiles/").status_code == 200
    assert operator_client.get("/builds/profiles/new/").status_code == 403
    assert operator_client.post("/builds/profiles/intranet/edit/", {}).status_code == 403


def test_bad_profile_input_is_refused(staff_user: Any) -> None:
    client = client_for(staff_user)
    response = client.post(
        "/builds/profiles/new/",
        {"name": "x", "values": "", "allowed_hosts": "not a host!"},
    )
    assert response.status_code == 400
    assert "is not a host name" in response.content.decode()
    assert not ResourceProfile.objects.exists()


def test_admin_console_saves_profiles_through_the_service(staff_user: Any) -> None:
    client = client_for(staff_user)

    response = client.post(
        "/admin/builds/resourceprofile/add/",
        {
            "name": "dc2",
            "description": "Second data centre",
            "values": '{"GOPROXY": "https://goproxy.dc2.corp"}',
            "allowed_hosts": '["*.dc2.corp"]',
        },
    )

    assert response.status_code == 302, response.content.decode()[-1500:]
    profile = ResourceProfile.objects.get(name="dc2")
    assert profile.values == {"GOPROXY": "https://goproxy.dc2.corp"}
    event = AuditEvent.objects.get(action="resource_profile.create")
    assert event.target_id == str(profile.pk) and event.via == "admin"
