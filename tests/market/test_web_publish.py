"""Publishing from the browser: the upload form goes through package_publish and
shows refusals, conflicts and limits next to the field they concern."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from market.models import App, AppVersion
from portal.models import AuditEvent, Role
from tests.factories import make_team, make_user
from tests.market.archives import manifest_text, package_archive
from tests.market.catalogue_factories import make_market
from tests.market.helpers import local_market

pytestmark = pytest.mark.django_db


@pytest.fixture
def market(tmp_path):
    return local_market(tmp_path, "main")


@pytest.fixture
def publisher(market):
    user = make_user("pat")
    team = make_team("ops", members={user: Role.OPERATOR})
    market.publishers.add(team)
    return user


def upload(data: bytes, name: str = "log-analyzer-1.4.2.tgz") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/gzip")


def field_errors(html: str, field: str) -> str:
    marker = f'id="id_{field}_error"'
    if marker not in html:
        return ""
    return html.split(marker, 1)[1].split("</ul>", 1)[0]


def test_anonymous_visitors_are_sent_to_log_in(client, market):
    for response in (
        client.get("/market/publish/"),
        client.post("/market/publish/", {"market": "main"}),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=/market/publish/")


def test_publisher_publishes_and_lands_on_the_app_page_with_details(client, publisher, tmp_path):
    client.force_login(publisher)

    response = client.post(
        "/market/publish/", {"market": "main", "archive": upload(package_archive())}
    )

    assert response.status_code == 302
    assert response["Location"] == "/market/main/log-analyzer/"
    root = tmp_path / "market-main"
    assert (root / "apps/log-analyzer/log-analyzer-1.4.2.tgz").is_file()
    index = json.loads((root / "apps/log-analyzer/index.json").read_text())
    assert index["versions"]["1.4.2"]["publisher"] == "pat"
    # Synced in the request: the catalogue has it, with its README and docs.
    app = App.objects.get(market__name="main", name="log-analyzer")
    assert app.latest == "1.4.2"
    assert "Finds error bursts" in app.readme
    assert list(app.docs.values_list("path", flat=True)) == ["docs/operations.md"]
    assert (
        AuditEvent.objects.filter(action="package.publish", actor_label="pat", via="web").count()
        == 1
    )

    page = client.get(response["Location"]).content.decode()
    assert "Published log-analyzer 1.4.2 to main." in page
    assert '<tr data-version="1.4.2"' in page


def test_republishing_the_same_archive_says_nothing_changed(client, publisher):
    client.force_login(publisher)
    data = package_archive()
    client.post("/market/publish/", {"market": "main", "archive": upload(data)})

    again = client.post(
        "/market/publish/", {"market": "main", "archive": upload(data)}, follow=True
    )

    assert "was already published to main with the same content; nothing changed" in (
        again.content.decode()
    )
    assert AppVersion.objects.filter(app__name="log-analyzer").count() == 1


def test_refused_package_shows_the_one_line_reason_next_to_the_file(client, publisher, tmp_path):
    client.force_login(publisher)
    bad = package_archive(manifest=manifest_text(summary="x" * 300))

    response = client.post("/market/publish/", {"market": "main", "archive": upload(bad)})

    html = response.content.decode()
    assert response.status_code == 400
    errors = field_errors(html, "archive")
    assert "Refused:" in errors
    assert "summary" in errors
    assert not (tmp_path / "market-main/apps").exists()
    assert not App.objects.exists()


def test_file_name_that_disagrees_with_the_manifest_is_refused(client, publisher):
    client.force_login(publisher)
    response = client.post(
        "/market/publish/",
        {"market": "main", "archive": upload(package_archive(), name="other-9.9.9.tgz")},
    )
    assert response.status_code == 400
    assert "Refused:" in field_errors(response.content.decode(), "archive")


def test_not_a_gzip_is_refused_clearly(client, publisher):
    client.force_login(publisher)
    response = client.post(
        "/market/publish/", {"market": "main", "archive": upload(b"hello, not a tarball")}
    )
    assert response.status_code == 400
    assert "Refused:" in field_errors(response.content.decode(), "archive")


def test_same_version_with_other_content_is_shown_as_a_conflict(client, publisher, tmp_path):
    client.force_login(publisher)
    client.post("/market/publish/", {"market": "main", "archive": upload(package_archive())})
    index_before = (tmp_path / "market-main/apps/log-analyzer/index.json").read_bytes()
    changed = package_archive(files={"README.md": "# Log Analyzer\n\nChanged.\n"})

    response = client.post("/market/publish/", {"market": "main", "archive": upload(changed)})

    html = response.content.decode()
    assert response.status_code == 409
    assert "Version conflict." in html
    assert "Conflict: log-analyzer 1.4.2 is already published" in field_errors(html, "archive")
    assert (tmp_path / "market-main/apps/log-analyzer/index.json").read_bytes() == index_before


def test_upload_over_the_archive_limit_is_refused_before_reading(client, publisher, settings):
    settings.PACKAGE_MAX_ARCHIVE_BYTES = 1024
    client.force_login(publisher)

    response = client.post("/market/publish/", {"market": "main", "archive": upload(b"\0" * 4096)})

    assert response.status_code == 413
    errors = field_errors(response.content.decode(), "archive")
    assert "The archive is 4.0\xa0KB; the largest accepted is 1.0\xa0KB." in errors
    assert not App.objects.exists()


def test_form_lists_only_markets_the_user_may_publish_to(client, publisher, tmp_path):
    local_market(tmp_path, "closed")  # writable, but pat's team does not publish there
    make_market("read-only")
    client.force_login(publisher)

    html = client.get("/market/publish/").content.decode()

    assert '<option value="main"' in html
    assert '<option value="closed"' not in html
    assert '<option value="read-only"' not in html


def test_non_publisher_sees_no_market_and_a_forged_post_is_refused(client, market, tmp_path):
    outsider = make_user("olly")
    make_team("ops", members={outsider: Role.VIEWER})  # a viewer may not publish
    client.force_login(outsider)

    page = client.get("/market/publish/").content.decode()
    assert "There is no market you may publish to." in page
    assert '<option value="main"' not in page

    forged = client.post(
        "/market/publish/", {"market": "main", "archive": upload(package_archive())}
    )

    assert forged.status_code == 400
    assert "You may not publish to that market" in field_errors(forged.content.decode(), "market")
    assert not (tmp_path / "market-main/apps").exists()
    assert not AuditEvent.objects.filter(action="package.publish").exists()


def test_staff_may_publish_to_any_writable_market(client, market):
    client.force_login(make_user("root", staff=True))
    response = client.post(
        "/market/publish/", {"market": "main", "archive": upload(package_archive())}
    )
    assert response.status_code == 302


def test_market_is_preselected_from_the_query(client, publisher, tmp_path):
    other = local_market(tmp_path, "second")
    other.publishers.add(*market_teams(publisher))
    client.force_login(publisher)

    html = client.get("/market/publish/?market=second").content.decode()

    assert '<option value="second" selected>' in html


def market_teams(user):
    from portal.models import Team

    return Team.objects.filter(memberships__user=user)
