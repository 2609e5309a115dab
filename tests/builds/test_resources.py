"""Precedence of the resource variables: build.sh default < environment < profile <
build, each winning where it should -- in the selector and on the build page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from builds.selectors import allowed_hosts, effective_resources, profile_resources
from builds.services.builds import build_create
from builds.services.profiles import profile_create
from portal.actors import Actor
from portal.services.errors import Invalid, NotFound
from tests.builds.helpers import tar_gz, write_source
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

VARIABLES = [
    "SW_PYTHON3_IMAGE",
    "MIGRATE_IMAGE",
    "MAVEN_IMAGE",
    "GOLANG_IMAGE",
    "GOLANG_BUILD_IMAGE",
    "DISTROLESS_IMAGE",
    "APK_REPO_DOMAIN",
    "PYTHON_PIP",
    "GOPROXY",
    "MAVEN_SETTINGS_XML",
    "HELM_BIN_URL",
    "KUSTOMIZE_BIN_URL",
    "MINIO_CLIENT_URL",
    "SREWORKS_BUILTIN_PACKAGE_URL",
    "NPM_REGISTRY_URL",
]


@pytest.fixture
def layered(settings: Any, staff_user: Any) -> Any:
    """GOPROXY from the environment; PYTHON_PIP from the environment and the profile;
    GOLANG_IMAGE from the environment, the profile and the build."""
    settings.BUILD_RESOURCE_ENVIRONMENT = {
        "GOPROXY": "https://goproxy.env.corp",
        "PYTHON_PIP": "https://pypi.env.corp/simple",
        "GOLANG_IMAGE": "env.corp/golang:alpine",
    }
    return profile_create(
        actor=Actor(user=staff_user),
        name="intranet",
        values={
            "PYTHON_PIP": "https://pypi.profile.corp/simple",
            "GOLANG_IMAGE": "profile.corp/golang:alpine",
            "EXTRA_MIRROR": "https://extra.profile.corp",
        },
    )


def test_every_build_sh_variable_has_build_sh_default() -> None:
    resources = profile_resources()
    assert list(resources) == VARIABLES
    assert resources["SW_PYTHON3_IMAGE"] == "python:3.9.12-alpine"
    assert resources["PYTHON_PIP"] == "http://mirrors.aliyun.com/pypi/simple"
    assert resources["GOPROXY"] == "https://goproxy.cn"


def test_each_layer_wins_where_it_should(layered: Any) -> None:
    effective = {
        r.name: (r.value, r.origin)
        for r in effective_resources(profile=layered, overrides={"GOLANG_IMAGE": "b.corp/go:1"})
    }
    assert effective["MAVEN_IMAGE"] == ("maven:3.8.3-adoptopenjdk-11", "default")
    assert effective["GOPROXY"] == ("https://goproxy.env.corp", "environment")
    assert effective["PYTHON_PIP"] == ("https://pypi.profile.corp/simple", "profile")
    assert effective["GOLANG_IMAGE"] == ("b.corp/go:1", "build")
    assert effective["EXTRA_MIRROR"] == ("https://extra.profile.corp", "profile")


def test_profile_resources_is_what_templates_get(layered: Any) -> None:
    resources = profile_resources("intranet", {"NPM_REGISTRY_URL": "https://npm.corp"})
    assert resources["PYTHON_PIP"] == "https://pypi.profile.corp/simple"
    assert resources["NPM_REGISTRY_URL"] == "https://npm.corp"
    assert resources["GOPROXY"] == "https://goproxy.env.corp"
    with pytest.raises(NotFound):
        profile_resources("nope")
    with pytest.raises(Invalid, match="not a variable name"):
        profile_resources(None, {"lower": "x"})


def test_hosts_of_chosen_values_are_allowed_but_not_build_sh_defaults(layered: Any) -> None:
    resources = effective_resources(profile=layered)
    allowed = allowed_hosts(profile=layered, resources=resources)
    assert "pypi.profile.corp" in allowed and "goproxy.env.corp" in allowed
    assert "profile.corp" in allowed  # GOLANG_IMAGE's registry
    assert "mirrors.aliyun.com" not in allowed and "docker.io" not in allowed


def test_build_page_shows_each_value_and_where_it_came_from(
    tmp_path: Path, layered: Any, staff_user: Any
) -> None:
    build = build_create(
        actor=Actor(user=staff_user),
        archive=tar_gz(write_source(tmp_path)),
        filename="src.tgz",
        profile_name="intranet",
        overrides={"GOLANG_IMAGE": "b.corp/go:1"},
    )
    client = Client()
    client.login(username=staff_user.username, password=PASSWORD)

    html = client.get(f"/builds/{build.pk}/").content.decode()

    def row(name: str) -> tuple[str, str]:
        match = re.search(
            rf'data-variable="{name}" data-origin="(\w+)">\s*<td[^>]*><code>{name}</code></td>'
            r"\s*<td[^>]*><code>([^<]*)</code>",
            html,
        )
        assert match, name
        return match.group(2), match.group(1)

    assert row("MAVEN_IMAGE") == ("maven:3.8.3-adoptopenjdk-11", "default")
    assert row("GOPROXY") == ("https://goproxy.env.corp", "environment")
    assert row("PYTHON_PIP") == ("https://pypi.profile.corp/simple", "profile")
    assert row("GOLANG_IMAGE") == ("b.corp/go:1", "build")
    assert "Precedence, lowest first" in html


def test_a_build_keeps_the_profile_as_it_was(tmp_path: Path, layered: Any, staff_user: Any) -> None:
    from builds.services.profiles import profile_update

    build = build_create(
        actor=Actor(user=staff_user),
        archive=tar_gz(write_source(tmp_path)),
        filename="src.tgz",
        profile_name="intranet",
    )
    profile_update(
        actor=Actor(user=staff_user),
        profile=layered,
        description="",
        values={"PYTHON_PIP": "https://changed.corp/simple"},
        allowed_hosts=[],
    )
    build.refresh_from_db()
    snapshot = {r["name"]: r["value"] for r in build.resources}
    assert snapshot["PYTHON_PIP"] == "https://pypi.profile.corp/simple"
