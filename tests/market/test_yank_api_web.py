"""Yanks and advisories through the REST API and the app page (SPEC 14): publishers
only, CSRF on for sessions, refusals change nothing, what is written is shown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from market.models import App, AppVersion, Market
from portal.models import AuditEvent, Role
from tests.factories import make_team, make_token, make_user
from tests.market.api_helpers import (
    publish_small,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    tree,
)
from tests.market.helpers import local_market

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_tasks")]

YANK = "/api/v1/markets/main/apps/app-a/versions/1.0.0/yank/"
ADVISORIES = "/api/v1/markets/main/apps/app-a/advisories/"
PAGE = "/market/main/app-a/"
ADVISORY = {
    "id": "OMSA-2026-042",
    "severity": "high",
    "affected": "<1.1.0",
    "fixed": "1.1.0",
    "summary": "Leaks the admin token in an error page.",
}


@pytest.fixture(autouse=True)
def _package_cache(settings: Any, tmp_path: Path) -> None:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"


@pytest.fixture
def market(tmp_path: Path) -> Market:
    market = local_market(tmp_path, "main")
    publish_small(market, "app-a", "1.0.0")
    publish_small(market, "app-a", "1.1.0")
    return market


@pytest.fixture
def publisher(market: Market) -> Any:
    user = make_user("pub")
    market.publishers.add(make_team("publishing", members={user: Role.OPERATOR}))
    return user


def bearer(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user)}")
    return client


def market_files(market: Market) -> dict[str, bytes | None]:
    return tree(Path(market.location))


def test_a_publisher_yanks_and_unyanks_through_the_api(market: Market, publisher: Any) -> None:
    api = bearer(publisher)

    yanked = api.post(YANK, {"reason": "Corrupts the cache."}, format="json")
    app = api.get("/api/v1/markets/main/apps/app-a/").json()
    version = api.get("/api/v1/markets/main/apps/app-a/versions/1.0.0/").json()
    undone = api.delete(YANK)

    assert yanked.status_code == 200, yanked.json()
    assert yanked.json() == {
        "app": "app-a",
        "version": "1.0.0",
        "yanked": "Corrupts the cache.",
        "changed": True,
    }
    assert {v["version"]: v["yanked"] for v in app["versions"]} == {
        "1.0.0": "Corrupts the cache.",
        "1.1.0": None,
    }
    assert version["yanked"] == "Corrupts the cache."
    assert undone.status_code == 200 and undone.json()["yanked"] is None
    assert AuditEvent.objects.filter(action__in=["version.yank", "version.unyank"]).count() == 2


def test_advisories_through_the_api(market: Market, publisher: Any) -> None:
    api = bearer(publisher)

    created = api.post(ADVISORIES, ADVISORY, format="json")
    replaced = api.post(ADVISORIES, {**ADVISORY, "severity": "critical"}, format="json")
    listed = api.get(ADVISORIES).json()
    affected = api.get("/api/v1/markets/main/apps/app-a/versions/1.0.0/").json()["advisories"]
    clean = api.get("/api/v1/markets/main/apps/app-a/versions/1.1.0/").json()["advisories"]
    removed = api.delete(ADVISORIES + "OMSA-2026-042/")
    again = api.delete(ADVISORIES + "OMSA-2026-042/")

    assert created.status_code == 201, created.json()
    assert replaced.status_code == 200 and replaced.json()["severity"] == "critical"
    assert listed == [{**ADVISORY, "severity": "critical"}]
    assert [a["id"] for a in affected] == ["OMSA-2026-042"] and clean == []
    assert removed.status_code == 204
    assert again.status_code == 404 and again.json()["error"] == "not_found"
    assert App.objects.get(market=market).advisories == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ADVISORY, "affected": ">=1.0.0 <<2"}, "affected"),
        ({**ADVISORY, "severity": "apocalyptic"}, "severity"),
        ({**ADVISORY, "summary": "s" * 600}, "summary"),
        ({**ADVISORY, "id": "has space"}, "id must be"),
        ({**ADVISORY, "fixed": "1.1"}, "fixed"),
    ],
)
def test_a_bad_advisory_answers_400_and_changes_nothing(
    market: Market, publisher: Any, body: dict[str, str], field: str
) -> None:
    before = market_files(market)

    response = bearer(publisher).post(ADVISORIES, body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert field in response.json()["detail"]
    assert market_files(market) == before
    assert App.objects.get(market=market).advisories == []


def test_who_may_not_yank_gets_403_or_401_and_nothing_changes(
    market: Market, publisher: Any
) -> None:
    before = market_files(market)
    viewer = make_user("viewer")
    market.publishers.first().memberships.create(user=viewer, role=Role.VIEWER)  # type: ignore[union-attr]
    stranger = make_user("stranger")

    answers = {
        "viewer": bearer(viewer).post(YANK, {"reason": "r"}, format="json"),
        "stranger": bearer(stranger).post(YANK, {"reason": "r"}, format="json"),
        "stranger-undo": bearer(stranger).delete(YANK),
        "stranger-advisory": bearer(stranger).post(ADVISORIES, ADVISORY, format="json"),
        "anonymous": APIClient().post(YANK, {"reason": "r"}, format="json"),
    }

    assert {k: r.status_code for k, r in answers.items()} == {
        "viewer": 403,
        "stranger": 403,
        "stranger-undo": 403,
        "stranger-advisory": 403,
        "anonymous": 401,
    }
    assert answers["stranger"].json()["error"] == "permission_denied"
    assert market_files(market) == before
    assert not AppVersion.objects.exclude(yanked="").exists()


def test_unknown_targets_and_missing_reasons(market: Market, publisher: Any) -> None:
    api = bearer(publisher)

    assert api.post(YANK.replace("main", "nowhere"), {"reason": "r"}).status_code == 404
    assert api.post(YANK.replace("1.0.0", "9.9.9"), {"reason": "r"}).status_code == 404
    assert api.post(YANK.replace("app-a", "app-z"), {"reason": "r"}).status_code == 404
    missing = api.post(YANK, {}, format="json")
    assert missing.status_code == 400 and "reason" in missing.json()["detail"]


def test_a_session_needs_the_csrf_token(market: Market, publisher: Any) -> None:
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(publisher)

    response = api.post(YANK, {"reason": "r"}, format="json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not AppVersion.objects.exclude(yanked="").exists()


# ------------------------------------------------------------------ the app page


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_the_app_page_gives_publishers_the_dialogs_and_others_none(
    market: Market, publisher: Any
) -> None:
    browser = Client()
    browser.force_login(publisher)
    other = Client()
    other.force_login(make_user("reader"))

    mine = browser.get(PAGE).content.decode()
    theirs = other.get(PAGE).content.decode()

    assert "/market/main/app-a/versions/1.0.0/yank/" in mine
    assert "Publish an advisory" in mine
    assert "/yank/" not in theirs and "Publish an advisory" not in theirs


def test_yank_and_advisory_through_the_page_then_shown_to_everyone(
    market: Market, publisher: Any
) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(publisher)
    token = csrf_of(browser.get(PAGE).content.decode())
    hostile = "<script>alert(1)</script> breaks TLS"

    no_token = browser.post(PAGE + "versions/1.0.0/yank/", {"reason": "r"})
    yanked = browser.post(
        PAGE + "versions/1.0.0/yank/", {"reason": hostile, "csrfmiddlewaretoken": token}
    )
    advised = browser.post(PAGE + "advisories/", {**ADVISORY, "csrfmiddlewaretoken": token})
    bad = browser.post(
        PAGE + "advisories/", {**ADVISORY, "affected": "nope", "csrfmiddlewaretoken": token}
    )
    reader = Client()
    reader.force_login(make_user("reader"))
    page = reader.get(PAGE + "?version=1.0.0").content.decode()
    bad_page = browser.get(PAGE).content.decode()

    assert no_token.status_code == 403
    assert yanked.status_code == 302 and advised.status_code == 302 and bad.status_code == 302
    assert AppVersion.objects.get(app__market=market, version="1.0.0").yanked == hostile
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; breaks TLS" in page
    assert '<s class="version-struck">1.0.0</s>' in page
    assert "Version 1.0.0 is yanked" in page
    assert 'data-advisory="OMSA-2026-042"' in page
    assert "Leaks the admin token in an error page." in page
    assert "invalid range" in bad_page  # the refusal, shown on the page
    assert [a["id"] for a in App.objects.get(market=market).advisories] == ["OMSA-2026-042"]


def test_a_stranger_posting_the_forms_gets_403_and_nothing_changes(
    market: Market, publisher: Any
) -> None:
    browser = Client()
    browser.force_login(make_user("stranger"))
    before = market_files(market)

    yank = browser.post(PAGE + "versions/1.0.0/yank/", {"reason": "r"})
    advise = browser.post(PAGE + "advisories/", ADVISORY)

    assert (yank.status_code, advise.status_code) == (403, 403)
    assert market_files(market) == before
