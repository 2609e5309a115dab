"""Source builds end to end through the service and the worker task: strict and
normal lint, intranet profiles through *.tpl files, git sources, hostile sources."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from builds.models import Build
from builds.services.builds import build_archive_path, build_create
from builds.services.profiles import profile_create
from market.package import PackageRefused, read_package
from portal.actors import Actor
from portal.models import AuditEvent, Role
from portal.services.errors import Forbidden, Invalid
from tests.builds.helpers import (
    INTRANET,
    PUBLIC_TEMPLATE,
    TPL_TEMPLATE,
    git_repo,
    regular,
    run_build,
    tar_gz,
    tar_with,
    write_source,
    zip_of,
)
from tests.factories import make_team, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Any:
    user = make_user("olga")
    make_team("ops", members={user: Role.OPERATOR})
    return user


@pytest.fixture
def intranet(staff_user: Any) -> Any:
    return profile_create(
        actor=Actor(user=staff_user), name="intranet", values=INTRANET, allowed_hosts=[]
    )


def start(user: Any, data: bytes, **kwargs: Any) -> Build:
    return build_create(actor=Actor(user=user), archive=data, filename="src.tgz", **kwargs)


def test_strict_build_fails_listing_each_public_host_with_file_and_line(
    tmp_path: Path, operator: Any, intranet: Any
) -> None:
    source = write_source(tmp_path, files={"templates/deploy.yaml": PUBLIC_TEMPLATE})

    build = run_build(start(operator, tar_gz(source), profile_name="intranet", strict=True))

    assert build.state == Build.State.FAILED
    listed = {(f["file"], f["line"], f["host"]) for f in build.lint_report}
    assert listed == {
        ("templates/deploy.yaml", 10, "docker.io"),
        ("templates/deploy.yaml", 11, "pypi.org"),
        ("templates/deploy.yaml", 11, "raw.githubusercontent.com"),
    }
    for where in (
        "templates/deploy.yaml:10 docker.io",
        "templates/deploy.yaml:11 pypi.org",
        "templates/deploy.yaml:11 raw.githubusercontent.com",
    ):
        assert where in build.error
    # Refused: nothing kept, neither the upload nor an archive.
    assert build.archive_name == "" and build_archive_path(build) is None


def test_same_source_with_tpl_variables_and_intranet_profile_passes(
    tmp_path: Path, operator: Any, intranet: Any, settings: Any
) -> None:
    source = write_source(tmp_path, files={"templates/deploy.yaml.tpl": TPL_TEMPLATE})

    build = run_build(start(operator, tar_gz(source), profile_name="intranet", strict=True))

    assert build.state == Build.State.SUCCEEDED, build.error
    assert build.lint_report == []
    path = build_archive_path(build)
    assert path is not None and path.is_file()
    package = read_package(path.read_bytes(), filename=build.archive_name)
    assert build.digest == package.digest
    rendered = package.files["templates/deploy.yaml"].decode()
    assert "image: registry.corp.example.net/library/python:3.11-slim" in rendered
    assert "pip install -i https://pypi.corp.example.net/simple" in rendered
    assert "https://files.corp.example.net/raw/acme/tools/main/setup.sh" in rendered
    assert "${" not in rendered
    assert not list((settings.BUILDS_DIR / "uploads").iterdir())
    assert not list((settings.BUILDS_DIR / "sandbox").iterdir())


def test_normal_build_keeps_the_same_report_as_warnings(
    tmp_path: Path, operator: Any, intranet: Any
) -> None:
    source = write_source(tmp_path, files={"templates/deploy.yaml": PUBLIC_TEMPLATE})

    build = run_build(start(operator, tar_gz(source), profile_name="intranet"))

    assert build.state == Build.State.SUCCEEDED
    assert {f["host"] for f in build.lint_report} == {
        "docker.io",
        "pypi.org",
        "raw.githubusercontent.com",
    }
    assert "warning: templates/deploy.yaml:11 names pypi.org" in build.log


def test_unknown_tpl_variable_fails_naming_file_and_line(tmp_path: Path, operator: Any) -> None:
    source = write_source(tmp_path, files={"Dockerfile.tpl": "FROM base\nRUN ${MISSING}\n"})

    build = run_build(start(operator, tar_gz(source)))

    assert build.state == Build.State.FAILED
    assert build.error == "Dockerfile.tpl:2: unknown variable ${MISSING}"


def test_git_source_records_the_commit(tmp_path: Path, staff_user: Any) -> None:
    source = write_source(tmp_path, files={"templates/deploy.yaml.tpl": "image: ${GOLANG_IMAGE}\n"})
    sha = git_repo(source)

    build = build_create(actor=Actor(user=staff_user), git_url=f"file://{source}", ref="main")
    build = run_build(build)

    assert build.state == Build.State.SUCCEEDED, build.error
    assert build.commit_sha == sha
    assert build.source == f"file://{source}" and build.ref == "main"


def test_git_checkout_with_a_symlink_leaving_the_tree_is_refused(
    tmp_path: Path, staff_user: Any, settings: Any
) -> None:
    source = write_source(tmp_path)
    (source / "README.md").symlink_to("/etc/passwd")
    git_repo(source)

    build = run_build(build_create(actor=Actor(user=staff_user), git_url=f"file://{source}"))

    assert build.state == Build.State.FAILED
    assert "README.md is a symbolic link (to /etc/passwd)" in build.error
    assert not (settings.BUILDS_DIR / str(build.pk)).exists()


def test_file_urls_are_for_staff_only(tmp_path: Path, operator: Any) -> None:
    with pytest.raises(Forbidden, match="only staff"):
        build_create(actor=Actor(user=operator), git_url=f"file://{tmp_path}")


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/repo.git", "https://169.254.169.254/x.git", "ssh://git@h/x", "ftp://h/x"],
)
def test_git_urls_pass_the_network_guard(url: str, operator: Any) -> None:
    with pytest.raises(Invalid, match="git_url"):
        build_create(actor=Actor(user=operator), git_url=url)
    assert not Build.objects.exists()


def _hostile_archives() -> dict[str, tuple[bytes, str]]:
    link = tarfile.TarInfo("app/escape")
    link.type, link.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
    hard = tarfile.TarInfo("app/hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/shadow"
    fifo = tarfile.TarInfo("app/pipe")
    fifo.type = tarfile.FIFOTYPE
    manifest = ("app/manifest.yaml", b"schema: 1\n")
    return {
        "symlink": (tar_with([regular(*manifest), (link, None)]), "is a symbolic link"),
        "hardlink": (tar_with([regular(*manifest), (hard, None)]), "is a hard link"),
        "fifo": (tar_with([regular(*manifest), (fifo, None)]), "not a regular file"),
        "dotdot": (tar_with([regular("app/../../x", b"x")]), "path contains .."),
        "absolute": (tar_with([regular("/etc/cron.d/x", b"x")]), "absolute path"),
        "backslash": (tar_with([regular("app\\..\\..\\x", b"x")]), "backslash"),
        "double_slash": (tar_with([regular("app//x", b"x")]), "not canonical"),
        "dot_segment": (tar_with([regular("app/./x", b"x")]), "not canonical"),
        "control": (tar_with([regular("app/x\n.yaml", b"x")]), "control"),
        "oversized": (tar_with([regular("app/big", b"x" * 4096)]), "over the 1024-byte"),
        "too_many": (
            tar_with([regular(f"app/f{i}", b"x") for i in range(12)]),
            "more than 10 files",
        ),
        "zip_symlink": (zip_of({"app/a": b"x"}, symlinks={"app/l": "/etc"}), "symbolic link"),
        "not_an_archive": (b"hello world, not a tar", "not a gzip tar or zip"),
    }


@pytest.mark.parametrize("kind", list(_hostile_archives()))
def test_hostile_archives_are_refused_and_nothing_is_kept(
    kind: str, operator: Any, settings: Any
) -> None:
    settings.PACKAGE_MAX_FILE_BYTES = 1024
    settings.PACKAGE_MAX_MEMBERS = 10
    data, reason = _hostile_archives()[kind]

    build = run_build(start(operator, data))

    assert build.state == Build.State.FAILED
    assert reason in build.error
    assert build.archive_name == "" and build.digest == ""
    assert not (settings.BUILDS_DIR / str(build.pk)).exists()
    assert not list((settings.BUILDS_DIR / "uploads").iterdir())
    assert not list((settings.BUILDS_DIR / "sandbox").iterdir())
    assert not Path("/etc/cron.d/x").exists()


def test_enqueue_waits_for_commit(
    tmp_path: Path, operator: Any, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    from builds import tasks

    queued: list[int] = []
    monkeypatch.setattr(
        tasks.build_run_task, "apply_async", lambda args, **_: queued.append(args[0])
    )
    source = write_source(tmp_path)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        build = start(operator, tar_gz(source))
        assert queued == []

    for callback in callbacks:
        callback()
    assert queued == [build.pk]
    assert AuditEvent.objects.filter(action="build.create", target_id=str(build.pk)).exists()


def test_a_redelivered_task_does_nothing(tmp_path: Path, operator: Any) -> None:
    build = run_build(start(operator, tar_gz(write_source(tmp_path))))
    log = build.log

    again = run_build(build)

    assert again.state == Build.State.SUCCEEDED and again.log == log


def test_upload_is_kept_for_the_worker_until_it_runs(
    tmp_path: Path, operator: Any, settings: Any
) -> None:
    build = start(operator, tar_gz(write_source(tmp_path)))
    assert (settings.BUILDS_DIR / "uploads" / build.upload).is_file()
    run_build(build)
    assert not (settings.BUILDS_DIR / "uploads" / build.upload).exists()


def test_a_source_packed_from_inside_its_folder_builds(tmp_path: Path, operator: Any) -> None:
    # tar -czf src.tgz -C mirror-test . writes "./" and "./manifest.yaml".
    data = tar_gz(write_source(tmp_path), prefix=".")

    build = run_build(start(operator, data))

    assert build.state == Build.State.SUCCEEDED, build.error
    assert build.app_name == "mirror-test"


def test_zip_sources_build_too(tmp_path: Path, operator: Any) -> None:
    source = write_source(tmp_path)
    data = zip_of({"mirror-test/manifest.yaml": (source / "manifest.yaml").read_bytes()})

    build = run_build(start(operator, data))

    assert build.state == Build.State.SUCCEEDED, build.error
    assert (build.app_name, build.app_version) == ("mirror-test", "1.0.0")


def test_repair_requeues_lost_messages_and_fails_lost_workers(
    tmp_path: Path,
    operator: Any,
    monkeypatch: Any,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from builds import tasks
    from builds.services.execute import builds_repair

    queued: list[int] = []
    monkeypatch.setattr(
        tasks.build_run_task, "apply_async", lambda args, **_: queued.append(args[0])
    )
    old = timezone.now() - timedelta(hours=2)
    lost = start(operator, tar_gz(write_source(tmp_path)))
    running = start(operator, tar_gz(write_source(tmp_path)))
    fresh = start(operator, tar_gz(write_source(tmp_path)))
    Build.objects.filter(pk=lost.pk).update(created_at=old)
    Build.objects.filter(pk=running.pk).update(state="running", started_at=old)

    # The repair sends on commit (portal.queue), as its task's autocommit would.
    with django_capture_on_commit_callbacks(execute=True):
        assert builds_repair() == (1, 1)

    assert queued == [lost.pk]
    running.refresh_from_db()
    assert running.state == "failed" and "worker" in running.error
    assert not (settings.BUILDS_DIR / "uploads" / running.upload).exists()
    fresh.refresh_from_db()
    assert fresh.state == "queued"


def test_build_publishes_to_a_writable_market(tmp_path: Path, operator: Any, intranet: Any) -> None:
    from market.models import AppVersion
    from market.services.sync import market_sync
    from tests.market.helpers import local_market

    market = local_market(tmp_path, "intranet-apps")
    market.publishers.add(operator.memberships.get().team)
    source = write_source(tmp_path, files={"templates/deploy.yaml.tpl": TPL_TEMPLATE})

    build = run_build(
        start(operator, tar_gz(source), profile_name="intranet", publish_market="intranet-apps")
    )

    assert build.state == Build.State.SUCCEEDED, build.error
    assert build.published
    market_sync(market=market)
    row = AppVersion.objects.get(app__market=market, app__name="mirror-test")
    assert row.digest == build.digest


def test_publishing_needs_the_right_to_publish(tmp_path: Path, operator: Any) -> None:
    from tests.market.helpers import local_market

    local_market(tmp_path, "closed")
    with pytest.raises(Forbidden, match="may not publish to closed"):
        start(operator, tar_gz(write_source(tmp_path)), publish_market="closed")
    assert not Build.objects.exists()


def test_git_over_http_is_pinned_to_the_checked_addresses(settings: Any) -> None:
    from builds.services.execute import git_address_pins

    settings.BUILD_GIT_ALLOW_PRIVATE_NETWORK = True
    assert git_address_pins("https://127.0.0.1:8443/r.git") == [
        "http.curloptResolve=127.0.0.1:8443:127.0.0.1"
    ]
    assert git_address_pins("file:///srv/r") == []
    settings.BUILD_GIT_ALLOW_PRIVATE_NETWORK = False
    with pytest.raises(PackageRefused, match="loopback"):
        git_address_pins("http://127.0.0.1/r.git")


def test_a_build_from_a_git_server_over_http(tmp_path: Path, operator: Any, settings: Any) -> None:
    from tests.builds.git_http import git_http_server

    source = write_source(
        tmp_path / "src", files={"templates/deploy.yaml.tpl": "image: ${GOLANG_IMAGE}\n"}
    )
    sha = git_repo(source)
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(source), str(served / "app.git")], check=True
    )

    with git_http_server(served) as base:
        url = f"{base}/app.git"
        # Loopback is a private address: refused unless the intranet flag is on.
        with pytest.raises(Invalid, match="loopback"):
            build_create(actor=Actor(user=operator), git_url=url, ref="main")
        settings.BUILD_GIT_ALLOW_PRIVATE_NETWORK = True
        build = run_build(build_create(actor=Actor(user=operator), git_url=url, ref="main"))

    assert build.state == Build.State.SUCCEEDED, build.error
    assert build.commit_sha == sha
    assert build.source == url
    with tarfile.open(build_archive_path(build)) as tar:
        names = tar.getnames()
    assert any(name.endswith("templates/deploy.yaml") for name in names)
