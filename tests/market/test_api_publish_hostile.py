"""Publishing through the real entry points: `POST /api/v1/markets/{m}/packages/` and
`manage.py market_publish`. Every hostile package of SPEC section 2 is refused with
its specific reason, and neither the market's storage nor the database changes."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from market.models import Market, SyncJob
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from portal.models import AuditEvent, Role
from tests.factories import make_team, make_token, make_user
from tests.market import archives
from tests.market.api_helpers import (
    api_publish,
    catalogue_state,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    run_command,
    tree,
)
from tests.market.archives import (
    NAME,
    archive,
    blockdev,
    chardev,
    fifo,
    file,
    hardlink,
    manifest_text,
    package_archive,
    package_members,
    symlink,
)
from tests.market.helpers import local_market

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_tasks")]

GOOD_NAME = f"{NAME}-1.4.2.tgz"


@dataclass
class Publishing:
    market: Market
    root: Path
    operator: Any
    client: APIClient  # the operator, authenticated with a Bearer token


@pytest.fixture
def publishing(tmp_path: Path) -> Publishing:
    """A writable local market `main` holding log-analyzer 1.4.0, which the team
    `publishers` may publish to; its operator `alice` holds an API token."""
    market = local_market(tmp_path, "main")
    operator = make_user("alice")
    team = make_team("publishers", members={operator: Role.OPERATOR})
    market.publishers.add(team)
    seed = package_archive(manifest=manifest_text(version="1.4.0"))
    package_publish(actor=Actor.system(), market=market, data=seed, filename=f"{NAME}-1.4.0.tgz")
    market_sync(market=market)  # the catalogue holds 1.4.0, so "unchanged" means something
    assert catalogue_state(market)["versions"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(operator)}")
    return Publishing(market, tmp_path / "market-main", operator, client)


def with_extra(*members: archives.Member) -> bytes:
    return archive([*package_members(), *members])


@dataclass(frozen=True)
class Hostile:
    build: Callable[[], bytes]
    code: str
    words: str  # expected in the one-line reason
    filename: str = GOOD_NAME
    settings: dict[str, int] = field(default_factory=dict)


def _manifest(extra: str = "", **changes: Any) -> Callable[[], bytes]:
    return lambda: package_archive(manifest=manifest_text(**changes) + extra)


HOSTILE = {
    # member paths
    "traversal": Hostile(lambda: with_extra(file(f"{NAME}/../evil.yaml", "x")), "traversal", ".."),
    "traversal-out-of-root": Hostile(
        lambda: with_extra(file("../../etc/cron.d/evil", "x")), "traversal", "etc/cron.d"
    ),
    "absolute-path": Hostile(
        lambda: with_extra(file("/etc/passwd", "x")), "absolute_path", "/etc/passwd"
    ),
    "outside-root": Hostile(
        lambda: with_extra(file("other-app/evil.yaml", "x")), "outside_root", "other-app"
    ),
    # member types
    "symlink": Hostile(
        lambda: with_extra(symlink(f"{NAME}/link", "/etc/passwd")), "symlink", "link"
    ),
    "hard-link": Hostile(
        lambda: with_extra(hardlink(f"{NAME}/hard", f"{NAME}/README.md")), "hardlink", "hard"
    ),
    "char-device": Hostile(lambda: with_extra(chardev(f"{NAME}/null")), "device", "null"),
    "block-device": Hostile(lambda: with_extra(blockdev(f"{NAME}/sda")), "device", "sda"),
    "fifo": Hostile(lambda: with_extra(fifo(f"{NAME}/pipe")), "fifo", "pipe"),
    "duplicate-member": Hostile(
        lambda: with_extra(file(f"{NAME}/README.md", "# again")), "duplicate_member", "README.md"
    ),
    # counts, sizes, bombs
    "too-many-members": Hostile(
        lambda: with_extra(*(file(f"{NAME}/data/f{i:04}.txt", "x") for i in range(1000))),
        "too_many_members",
        "1000",
    ),
    "oversized-member": Hostile(
        lambda: with_extra(file(f"{NAME}/big.bin", os.urandom(5000))),
        "too_large",
        "big.bin",
        settings={"PACKAGE_MAX_FILE_BYTES": 4096},
    ),
    "member-declaring-a-gigabyte": Hostile(archives.declared_huge, "too_large", "huge.bin"),
    "high-ratio-member": Hostile(
        lambda: with_extra(file(f"{NAME}/zeros.bin", bytes(4 * archives.MiB))), "ratio", "100"
    ),
    "zip-bomb": Hostile(archives.zero_bomb, "ratio", "compression ratio"),
    # gzip framing
    "not-gzip": Hostile(lambda: b"PK\x03\x04 not a gzip stream", "not_gzip", "gzip"),
    "truncated-gzip": Hostile(lambda: package_archive()[:-40], "truncated", "ends early"),
    "trailing-garbage": Hostile(
        lambda: package_archive() + b"#!/bin/sh\n", "trailing_garbage", "follow"
    ),
    # unsafe YAML in the manifest
    "yaml-anchors-aliases": Hostile(
        _manifest("extra: &anchor {a: 1}\nmore: *anchor\n"), "manifest_yaml", "anchors"
    ),
    "yaml-custom-tag": Hostile(_manifest("extra: !foo bar\n"), "manifest_yaml", "tag !foo"),
    "yaml-python-tag": Hostile(
        _manifest("extra: !!python/object/apply:os.system [id]\n"),
        "manifest_yaml",
        "python/object/apply",
    ),
    "yaml-duplicate-key": Hostile(
        _manifest("title: Another title\n"), "manifest_yaml", "duplicate key 'title'"
    ),
    # field rules
    "version-not-a-string": Hostile(
        _manifest("version: 1.0\n", version=None), "manifest_field", "YAML string"
    ),
    "name-not-a-string": Hostile(
        _manifest("name: 12345\n", name=None), "manifest_field", "YAML string"
    ),
    "bad-semver": Hostile(
        _manifest(version="1.2"), "manifest_field", "1.2", filename=f"{NAME}-1.2.tgz"
    ),
    "semver-leading-zeros": Hostile(
        _manifest(version="01.4.2"), "manifest_field", "leading zeros", f"{NAME}-01.4.2.tgz"
    ),
    "summary-too-long": Hostile(_manifest(summary="x" * 201), "manifest_field", "at most 200"),
    "unknown-manifest-key": Hostile(_manifest(colour="blue"), "manifest_field", "colour"),
    # name and version against folder and file name
    "name-differs-from-folder": Hostile(
        lambda: package_archive(root="log-analyser"), "name_mismatch", "log-analyser"
    ),
    "version-differs-from-file-name": Hostile(
        package_archive, "filename_mismatch", GOOD_NAME, filename=f"{NAME}-1.4.3.tgz"
    ),
    "name-differs-from-file-name": Hostile(
        package_archive, "filename_mismatch", GOOD_NAME, filename="log-analyser-1.4.2.tgz"
    ),
    # values and templates
    "values-fail-schema": Hostile(
        lambda: package_archive(files={"values.yaml": "replicas: 0\n"}), "values_schema", "replicas"
    ),
    "values-wrong-type": Hostile(
        lambda: package_archive(files={"values.yaml": "replicas: two\n"}),
        "values_schema",
        "integer",
    ),
    "template-syntax-error": Hostile(
        lambda: package_archive(files={"templates/api/broken.yaml": "x: {{ values.x \n"}),
        "template_syntax",
        "templates/api/broken.yaml",
    ),
}


def _apply(settings: Any, overrides: dict[str, int]) -> None:
    for name, value in overrides.items():
        setattr(settings, name, value)


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_api_refuses_a_hostile_package_and_changes_nothing(
    publishing: Publishing, settings: Any, case: str
) -> None:
    hostile = HOSTILE[case]
    _apply(settings, hostile.settings)
    storage_before = tree(publishing.root)
    db_before = catalogue_state(publishing.market)

    response = api_publish(publishing.client, "main", hostile.filename, hostile.build())

    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == f"package_{hostile.code}"
    assert hostile.words in body["detail"]
    assert "\n" not in body["detail"]
    assert tree(publishing.root) == storage_before
    assert catalogue_state(publishing.market) == db_before


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_cli_refuses_a_hostile_package_with_status_1_and_changes_nothing(
    publishing: Publishing, settings: Any, tmp_path: Path, case: str
) -> None:
    hostile = HOSTILE[case]
    _apply(settings, hostile.settings)
    path = tmp_path / "upload" / hostile.filename
    path.parent.mkdir()
    path.write_bytes(hostile.build())
    storage_before = tree(publishing.root)
    db_before = catalogue_state(publishing.market)

    result = run_command("market_publish", str(path), market="main")

    assert result.status == 1
    assert result.stdout == ""
    assert result.stderr.startswith("refused: ")
    assert hostile.words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert tree(publishing.root) == storage_before
    assert catalogue_state(publishing.market) == db_before


# ------------------------------------------------------------------ sizes and conflicts


def test_an_upload_over_the_archive_limit_is_413_and_changes_nothing(
    publishing: Publishing, settings: Any
) -> None:
    data = package_archive()
    settings.PACKAGE_MAX_ARCHIVE_BYTES = len(data) - 1
    storage_before = tree(publishing.root)
    db_before = catalogue_state(publishing.market)

    response = api_publish(publishing.client, "main", GOOD_NAME, data)

    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert str(len(data) - 1) in response.json()["detail"]
    assert tree(publishing.root) == storage_before
    assert catalogue_state(publishing.market) == db_before


def test_an_upload_at_the_archive_limit_is_accepted(publishing: Publishing, settings: Any) -> None:
    data = package_archive()
    settings.PACKAGE_MAX_ARCHIVE_BYTES = len(data)

    assert api_publish(publishing.client, "main", GOOD_NAME, data).status_code == 201


def _other_content() -> bytes:
    return package_archive(files={"README.md": "# Log Analyzer\n\nOther content.\n"})


def test_same_version_with_other_content_is_409_and_changes_nothing(
    publishing: Publishing,
) -> None:
    assert api_publish(publishing.client, "main", GOOD_NAME, package_archive()).status_code == 201
    storage_before = tree(publishing.root)
    db_before = catalogue_state(publishing.market)

    response = api_publish(publishing.client, "main", GOOD_NAME, _other_content())

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "1.4.2" in response.json()["detail"]
    assert tree(publishing.root) == storage_before
    assert catalogue_state(publishing.market) == db_before


def test_cli_conflict_exits_3_and_changes_nothing(publishing: Publishing, tmp_path: Path) -> None:
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first, second = tmp_path / "first" / GOOD_NAME, tmp_path / "second" / GOOD_NAME
    first.write_bytes(package_archive())
    second.write_bytes(_other_content())
    assert run_command("market_publish", str(first), market="main").status == 0
    storage_before = tree(publishing.root)
    db_before = catalogue_state(publishing.market)

    result = run_command("market_publish", str(second), market="main")

    assert result.status == 3
    assert result.stderr.startswith("conflict: ")
    assert "1.4.2" in result.stderr
    assert tree(publishing.root) == storage_before
    assert catalogue_state(publishing.market) == db_before


def test_new_publish_is_201_and_identical_republish_is_200_without_changes(
    publishing: Publishing,
) -> None:
    data = package_archive()

    created = api_publish(publishing.client, "main", GOOD_NAME, data)
    storage_after_first = tree(publishing.root)
    again = api_publish(publishing.client, "main", GOOD_NAME, data)

    assert created.status_code == 201
    body = created.json()
    assert body["name"] == NAME and body["version"] == "1.4.2"
    assert body["size"] == len(data) and body["created"] is True
    assert body["digest"].startswith("sha256:")
    assert again.status_code == 200
    assert again.json() == {**body, "created": False}
    assert tree(publishing.root) == storage_after_first
    assert (publishing.root / f"apps/{NAME}/{GOOD_NAME}").read_bytes() == data


def test_a_successful_publish_is_audited_with_the_actor_and_token(
    publishing: Publishing,
) -> None:
    data = package_archive()

    response = api_publish(publishing.client, "main", GOOD_NAME, data)

    event = AuditEvent.objects.filter(action="package.publish").order_by("-id").first()
    assert event is not None
    assert event.actor == publishing.operator
    assert event.via == "api"
    assert event.token is not None
    assert event.target_repr == f"main/{NAME}@1.4.2"
    assert event.detail == {
        "app": NAME,
        "version": "1.4.2",
        "digest": response.json()["digest"],
        "created": True,
    }


def test_a_successful_publish_queues_a_sync_on_commit(
    publishing: Publishing, django_capture_on_commit_callbacks: Any, queued_tasks: list[Any]
) -> None:
    # The sync queued when the market was added has run.
    publishing.market.sync_jobs.update(state=SyncJob.State.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_publish(publishing.client, "main", GOOD_NAME, package_archive())
        assert queued_tasks == []  # not before the commit
    for callback in callbacks:
        callback()

    assert response.status_code == 201
    job = publishing.market.sync_jobs.get(state=SyncJob.State.QUEUED)
    assert queued_tasks == [("sync", job.pk)]


def test_publishing_again_while_a_sync_is_queued_reuses_that_job(
    publishing: Publishing, queued_tasks: list[Any]
) -> None:
    queued = publishing.market.sync_jobs.get(state=SyncJob.State.QUEUED)

    api_publish(publishing.client, "main", GOOD_NAME, package_archive())

    assert list(publishing.market.sync_jobs.values_list("pk", flat=True)) == [queued.pk]


# ------------------------------------------------------------------ who may publish


def test_without_credentials_it_is_401(publishing: Publishing) -> None:
    storage_before = tree(publishing.root)

    response = api_publish(APIClient(), "main", GOOD_NAME, package_archive())

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert tree(publishing.root) == storage_before


def test_with_a_wrong_token_it_is_401(publishing: Publishing) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer omk_not-a-real-token")

    response = api_publish(client, "main", GOOD_NAME, package_archive())

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


@pytest.mark.parametrize(
    "role_in_publishers", [None, Role.VIEWER], ids=["other-team-operator", "viewer"]
)
def test_a_user_without_the_operator_role_in_a_publishing_team_gets_403(
    publishing: Publishing, role_in_publishers: str | None
) -> None:
    bob = make_user("bob")
    make_team("elsewhere", members={bob: Role.OPERATOR})
    if role_in_publishers is not None:
        publishing.market.publishers.first().memberships.create(  # type: ignore[union-attr]
            user=bob, role=role_in_publishers
        )
    client = APIClient()
    client.force_login(bob)  # the browser's session
    storage_before = tree(publishing.root)
    db_before = catalogue_state(publishing.market)

    response = api_publish(client, "main", GOOD_NAME, package_archive())

    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert tree(publishing.root) == storage_before
    assert catalogue_state(publishing.market) == db_before


def test_an_admin_of_a_publishing_team_may_publish(publishing: Publishing) -> None:
    carol = make_user("carol")
    publishing.market.publishers.first().memberships.create(  # type: ignore[union-attr]
        user=carol, role=Role.ADMIN
    )
    client = APIClient()
    client.force_login(carol)

    assert api_publish(client, "main", GOOD_NAME, package_archive()).status_code == 201


def test_staff_may_publish_to_any_writable_market(publishing: Publishing) -> None:
    client = APIClient()
    client.force_login(make_user("root", staff=True))

    assert api_publish(client, "main", GOOD_NAME, package_archive()).status_code == 201


def test_a_read_only_market_refuses_publishing(tmp_path: Path) -> None:
    market = local_market(tmp_path, "mirror", writable=False)
    client = APIClient()
    client.force_login(make_user("root", staff=True))
    storage_before = tree(tmp_path / "market-mirror")

    response = api_publish(client, "mirror", GOOD_NAME, package_archive())

    assert response.status_code == 400
    assert response.json()["error"] == "market_read_only"
    assert "mirror" in response.json()["detail"]
    assert tree(tmp_path / "market-mirror") == storage_before
    assert market.sync_jobs.count() == 1  # only the one market_add queued


def test_unknown_market_is_404(publishing: Publishing) -> None:
    response = api_publish(publishing.client, "no-such-market", GOOD_NAME, package_archive())

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_missing_archive_field_is_400(publishing: Publishing) -> None:
    response = publishing.client.post(
        "/api/v1/markets/main/packages/", {"file": "x"}, format="multipart"
    )

    assert response.status_code == 400
    assert "archive" in response.json()["detail"]


def test_cli_refuses_an_unknown_market_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / GOOD_NAME
    path.write_bytes(package_archive())

    unknown = run_command("market_publish", str(path), market="nowhere")
    missing = run_command("market_publish", str(tmp_path / "missing.tgz"), market="nowhere")

    assert unknown.status == 1 and "no such market: nowhere" in unknown.stderr
    assert missing.status == 1


def test_an_oversized_upload_is_refused_before_its_body_is_parsed(
    publishing: Publishing, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rest_framework.parsers import MultiPartParser

    def parse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the body of an oversized upload must not be parsed")

    monkeypatch.setattr(MultiPartParser, "parse", parse)
    settings.PACKAGE_MAX_ARCHIVE_BYTES = 1024

    response = api_publish(publishing.client, "main", GOOD_NAME, os.urandom(128 * 1024))

    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


def test_a_corrupt_market_document_is_503_not_a_crash(publishing: Publishing) -> None:
    index = publishing.root / f"apps/{NAME}/index.json"
    index.write_bytes(b"{not json")

    response = api_publish(publishing.client, "main", GOOD_NAME, package_archive())

    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert "index.json is not valid JSON" in response.json()["detail"]
    assert not (publishing.root / f"apps/{NAME}/{GOOD_NAME}").exists()
