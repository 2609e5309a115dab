"""`manage.py package_build --profile P --strict`: render, lint, fail listing hosts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from builds.services.profiles import profile_create
from portal.actors import Actor
from tests.builds.helpers import INTRANET, PUBLIC_TEMPLATE, TPL_TEMPLATE, write_source

pytestmark = pytest.mark.django_db


def test_strict_fails_with_status_1_listing_file_line_host(tmp_path: Path) -> None:
    source = write_source(tmp_path, files={"templates/deploy.yaml": PUBLIC_TEMPLATE})
    stderr = io.StringIO()

    with pytest.raises(CommandError) as caught:
        call_command(
            "package_build", str(source), "-o", str(tmp_path / "out"), "--strict", stderr=stderr
        )

    assert caught.value.returncode == 1
    assert stderr.getvalue().splitlines() == [
        "templates/deploy.yaml:10 docker.io",
        "templates/deploy.yaml:11 pypi.org",
        "templates/deploy.yaml:11 raw.githubusercontent.com",
    ]
    assert "host_not_allowed" in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_profile_renders_tpl_and_strict_passes(tmp_path: Path, staff_user: Any) -> None:
    profile_create(actor=Actor(user=staff_user), name="intranet", values=INTRANET)
    source = write_source(tmp_path, files={"templates/deploy.yaml.tpl": TPL_TEMPLATE})
    stdout = io.StringIO()

    call_command(
        "package_build",
        str(source),
        "-o",
        str(tmp_path / "out"),
        "--profile",
        "intranet",
        "--strict",
        stdout=stdout,
    )

    path = Path(stdout.getvalue().splitlines()[0])
    with tarfile.open(path) as tar:
        names = tar.getnames()
        extracted = tar.extractfile("mirror-test/templates/deploy.yaml")
        assert extracted is not None
        rendered = extracted.read().decode()
    assert "mirror-test/templates/deploy.yaml.tpl" not in names
    assert "pypi.corp.example.net" in rendered and "registry.corp.example.net" in rendered


def test_without_strict_hosts_are_warnings(tmp_path: Path) -> None:
    source = write_source(tmp_path, files={"templates/deploy.yaml": PUBLIC_TEMPLATE})
    stderr = io.StringIO()

    call_command(
        "package_build",
        str(source),
        "-o",
        str(tmp_path / "out"),
        stderr=stderr,
        stdout=io.StringIO(),
    )

    assert "warning: templates/deploy.yaml:11 pypi.org is not allowed" in stderr.getvalue()
    assert (tmp_path / "out" / "mirror-test-1.0.0.tgz").is_file()


def test_unknown_variable_in_tpl_is_refused(tmp_path: Path) -> None:
    source = write_source(tmp_path, files={"values.yaml.tpl": "pip: ${NOPE}\n"})
    with pytest.raises(CommandError, match=r"values.yaml.tpl:1: unknown variable \$\{NOPE\}"):
        call_command("package_build", str(source), "-o", str(tmp_path / "out"))
