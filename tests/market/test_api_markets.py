"""`/api/v1/markets/` and `/api/v1/apps/`: subscribing, syncing and browsing through
the REST API (SPEC section 5), with the markets on real storage."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from market.models import App, AppVersion, Market, SyncJob
from market.services.markets import market_init
from market.services.sync import market_sync
from market.tasks import app_details_task
from portal.crypto import decrypt_json
from portal.models import AuditEvent
from tests.factories import make_user
from tests.market.api_helpers import (
    publish_small,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
)
from tests.market.helpers import local_market
from tests.market.storage_fixtures import MarketHTTPServer, new_bucket, s3_credentials

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_tasks")]

SECRET = "hunter2-do-not-show"


@pytest.fixture
def staff_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("root", staff=True))
    return client


@pytest.fixture
def user_client() -> APIClient:
    client = APIClient()
    client.force_authenticate(make_user("alice"))
    return client


@pytest.fixture(autouse=True)
def _package_cache(settings: Any, tmp_path: Path) -> None:
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"


def empty_market_at(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / f"remote-{name}"
    market_init(location=str(folder), name=name)
    return folder


def no_secret_in(*texts: str) -> bool:
    return not any(SECRET in text for text in texts)


# ------------------------------------------------------------------ list and subscribe


def test_market_list_is_paginated_with_app_counts(user_client: APIClient, tmp_path: Path) -> None:
    alpha = local_market(tmp_path, "alpha")
    local_market(tmp_path, "beta", writable=False)
    publish_small(alpha, "log-collector", "1.0.0")
    market_sync(market=alpha)

    body = user_client.get("/api/v1/markets/").json()

    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    alpha_row, beta_row = body["results"]
    assert alpha_row["name"] == "alpha" and alpha_row["apps"] == 1
    assert alpha_row["writable"] is True and alpha_row["serial"] == 1
    assert alpha_row["location"] is None  # where markets live is for staff
    assert beta_row["name"] == "beta" and beta_row["apps"] == 0 and beta_row["writable"] is False


def test_staff_see_where_each_market_is_without_secrets(
    staff_client: APIClient, tmp_path: Path
) -> None:
    local_market(tmp_path, "alpha")
    Market.objects.create(
        name="signed", location=f"https://cdn.example.org/market/?X-Amz-Signature={SECRET}"
    )

    rows = {row["name"]: row for row in staff_client.get("/api/v1/markets/").json()["results"]}

    assert rows["alpha"]["location"] == str(tmp_path / "market-alpha")
    assert rows["signed"]["location"] == "https://cdn.example.org/market/"


def test_market_list_pages(user_client: APIClient, tmp_path: Path) -> None:
    for index in range(3):
        local_market(tmp_path, f"m{index}", writable=False)

    first = user_client.get("/api/v1/markets/?page_size=2").json()
    second = user_client.get(first["next"]).json()

    assert first["count"] == 3 and len(first["results"]) == 2
    assert [row["name"] for row in second["results"]] == ["m2"]
    assert second["next"] is None and second["previous"] is not None


def test_anonymous_callers_get_401(tmp_path: Path) -> None:
    client = APIClient()

    assert client.get("/api/v1/markets/").status_code == 401
    assert client.get("/api/v1/apps/").status_code == 401
    response = client.post("/api/v1/markets/", {"name": "x", "location": "/tmp/x"}, format="json")
    assert response.status_code == 401


def test_staff_subscribe_to_a_local_market(staff_client: APIClient, tmp_path: Path) -> None:
    folder = empty_market_at(tmp_path, "upstream")

    response = staff_client.post(
        "/api/v1/markets/",
        {"name": "upstream", "location": str(folder), "description": "Team market"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "upstream"
    assert response.json()["apps"] == 0
    market = Market.objects.get(name="upstream")
    assert market.location == str(folder) and not market.writable
    event = AuditEvent.objects.get(action="market.add")
    assert event.target_repr == "upstream" and event.via == "api"
    assert SyncJob.objects.filter(market=market, state="queued").count() == 1


def test_only_staff_may_subscribe(user_client: APIClient, tmp_path: Path) -> None:
    folder = empty_market_at(tmp_path, "upstream")

    response = user_client.post(
        "/api/v1/markets/", {"name": "upstream", "location": str(folder)}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert not Market.objects.exists()
    assert not AuditEvent.objects.filter(action="market.add").exists()


@pytest.mark.parametrize(
    ("location", "extra", "words"),
    [
        ("ftp://example.org/market", {}, "unsupported market location scheme 'ftp'"),
        ("{tmp}/nothing-here", {}, "no market at"),
        ("{tmp}/not-a-market", {}, "not a market at"),
        ("{http}", {}, "a loopback address"),
        ("{http}", {"writable": True, "allow_private_network": True}, "read-only"),
        ("s3://bucket/prefix?versionId=1", {}, "takes no credentials, query"),
        ("{tmp}/remote-ok", {"endpoint_url": "http://127.0.0.1:9"}, "only applies to s3://"),
        ("{tmp}/remote-ok", {"credentials": {"token": "x"}}, "takes no credentials"),
    ],
    ids=[
        "scheme",
        "no-market-json",
        "not-format-1",
        "private-network",
        "http-writable",
        "s3-query",
        "endpoint-not-s3",
        "credentials-local",
    ],
)
def test_a_bad_location_is_400_with_a_clear_detail(
    staff_client: APIClient,
    tmp_path: Path,
    http_market: MarketHTTPServer,
    loopback_only: list[str],
    location: str,
    extra: dict[str, Any],
    words: str,
) -> None:
    empty_market_at(tmp_path, "ok")
    (tmp_path / "not-a-market").mkdir()
    (tmp_path / "not-a-market" / "market.json").write_text('{"hello": "world"}')
    shutil.copy(tmp_path / "remote-ok" / "market.json", http_market.root / "market.json")
    location = location.format(tmp=tmp_path, http=http_market.url)

    response = staff_client.post(
        "/api/v1/markets/", {"name": "bad", "location": location, **extra}, format="json"
    )

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["error"] == "invalid"
    assert words in body["detail"]
    assert "\n" not in body["detail"]
    assert not Market.objects.exists()
    # The guard refuses before connecting: the loopback server saw nothing.
    if "private-network" in words:
        assert http_market.requests == []


def test_a_private_network_market_needs_the_flag(
    staff_client: APIClient, tmp_path: Path, http_market: MarketHTTPServer, loopback_only: list[str]
) -> None:
    empty_market_at(tmp_path, "ok")
    shutil.copy(tmp_path / "remote-ok" / "market.json", http_market.root / "market.json")
    payload = {"name": "intranet", "location": http_market.url}

    refused = staff_client.post("/api/v1/markets/", payload, format="json")
    allowed = staff_client.post(
        "/api/v1/markets/", {**payload, "allow_private_network": True}, format="json"
    )

    assert refused.status_code == 400
    assert "needs the allow flag" in refused.json()["detail"]
    assert allowed.status_code == 201
    assert allowed.json()["allow_private_network"] is True
    assert [r.path for r in http_market.requests] == ["/market.json"]


@pytest.mark.parametrize("name", ["Bad Name", "under_score", "-dash", "x" * 64])
def test_a_bad_market_name_is_400(staff_client: APIClient, tmp_path: Path, name: str) -> None:
    folder = empty_market_at(tmp_path, "ok")

    response = staff_client.post(
        "/api/v1/markets/", {"name": name, "location": str(folder)}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("name: ")
    assert not Market.objects.exists()


def test_a_market_name_in_use_is_409(staff_client: APIClient, tmp_path: Path) -> None:
    local_market(tmp_path, "main")
    folder = empty_market_at(tmp_path, "other")

    response = staff_client.post(
        "/api/v1/markets/", {"name": "main", "location": str(folder)}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "main" in response.json()["detail"]


def test_http_credentials_in_the_url_are_stored_encrypted_and_never_shown(
    staff_client: APIClient, tmp_path: Path, http_market: MarketHTTPServer, loopback_only: list[str]
) -> None:
    empty_market_at(tmp_path, "ok")
    shutil.copy(tmp_path / "remote-ok" / "market.json", http_market.root / "market.json")
    location = f"http://reader:{SECRET}@127.0.0.1:{http_market.port}/"

    created = staff_client.post(
        "/api/v1/markets/",
        {"name": "intranet", "location": location, "allow_private_network": True},
        format="json",
    )
    listed = staff_client.get("/api/v1/markets/")

    assert created.status_code == 201, created.json()
    assert no_secret_in(created.content.decode(), listed.content.decode())
    market = Market.objects.get(name="intranet")
    assert market.location == f"http://127.0.0.1:{http_market.port}/"
    assert SECRET not in market.credentials_encrypted
    assert decrypt_json(market.credentials_encrypted) == {"username": "reader", "password": SECRET}
    event = AuditEvent.objects.get(action="market.add")
    assert no_secret_in(json.dumps(event.detail), event.target_repr)
    # The check of market.json at subscription already used them.
    sent = http_market.requests[0].headers["Authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")).decode() == f"reader:{SECRET}"


def test_s3_credentials_are_stored_encrypted_and_never_shown(
    staff_client: APIClient, moto_endpoint: str
) -> None:
    bucket = new_bucket(moto_endpoint)
    credentials = {**s3_credentials(), "aws_session_token": SECRET}
    market_init(
        location=f"s3://{bucket}/team",
        name="team",
        endpoint_url=moto_endpoint,
        credentials=s3_credentials(),
        allow_private_network=True,
    )

    created = staff_client.post(
        "/api/v1/markets/",
        {
            "name": "team",
            "location": f"s3://{bucket}/team",
            "endpoint_url": moto_endpoint,
            "writable": True,
            "allow_private_network": True,
            "credentials": credentials,
        },
        format="json",
    )
    listed = staff_client.get("/api/v1/markets/")

    assert created.status_code == 201, created.json()
    assert created.json()["writable"] is True  # the conditional-write probe passed
    assert no_secret_in(created.content.decode(), listed.content.decode())
    assert "credentials" not in created.json()
    market = Market.objects.get(name="team")
    assert decrypt_json(market.credentials_encrypted) == credentials
    event = AuditEvent.objects.get(action="market.add")
    assert no_secret_in(json.dumps(event.detail))


# ------------------------------------------------------------------ sync now


def test_sync_now_is_202_with_a_job_queued_only_on_commit(
    staff_client: APIClient,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
    queued_tasks: list[Any],
) -> None:
    market = local_market(tmp_path, "main")
    market.sync_jobs.update(state=SyncJob.State.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post("/api/v1/markets/main/sync/")
        assert queued_tasks == []
    for callback in callbacks:
        callback()

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"id", "state", "created_at"}
    assert body["state"] == "queued"
    assert SyncJob.objects.get(pk=body["id"]).market == market
    assert queued_tasks == [("sync", body["id"])]


def test_sync_now_while_a_job_is_queued_returns_that_job(
    staff_client: APIClient, tmp_path: Path
) -> None:
    market = local_market(tmp_path, "main")  # its first sync is queued

    first = staff_client.post("/api/v1/markets/main/sync/").json()
    second = staff_client.post("/api/v1/markets/main/sync/").json()

    assert first["id"] == second["id"]
    assert market.sync_jobs.count() == 1


def test_sync_now_is_staff_only_and_404_for_unknown_markets(
    staff_client: APIClient, user_client: APIClient, tmp_path: Path
) -> None:
    local_market(tmp_path, "main")

    assert user_client.post("/api/v1/markets/main/sync/").status_code == 403
    assert APIClient().post("/api/v1/markets/main/sync/").status_code == 401
    missing = staff_client.post("/api/v1/markets/nowhere/sync/")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


# ------------------------------------------------------------------ the catalogue


@pytest.fixture
def catalogue(tmp_path: Path) -> dict[str, Market]:
    """Two synced markets: alpha (log-collector, redis-ops 1.2.0 and 1.3.0) and
    beta (log-collector 2.0.0, cost-dashboard), with README details stored."""
    alpha = local_market(tmp_path, "alpha")
    beta = local_market(tmp_path, "beta")
    publish_small(
        alpha,
        "log-collector",
        "1.0.0",
        title="Log Collector",
        summary="Ships container output to Loki",
        category="observability",
        keywords=["logs", "fluent-bit"],
        dependencies=None,
    )
    for version in ("1.2.0", "1.3.0"):
        publish_small(
            alpha,
            "redis-ops",
            version,
            title="Redis Ops",
            summary="Runs Redis with backups",
            category="databases",
            keywords=["redis", "cache"],
            dependencies=None,
        )
    publish_small(
        beta,
        "log-collector",
        "2.0.0",
        title="Log Collector",
        summary="Ships container output to Loki",
        category="observability",
        keywords=["logs"],
        dependencies=[{"name": "redis-ops", "version": "^1.2.0"}],
    )
    publish_small(
        beta,
        "cost-dashboard",
        "0.5.0",
        title="Cost Dashboard",
        summary="Spend per team and namespace",
        category="finops",
        keywords=["cost", "cloud"],
        dependencies=None,
    )
    for market in (alpha, beta):
        market_sync(market=market)
    app_details_task(list(App.objects.values_list("pk", flat=True)))
    return {"alpha": alpha, "beta": beta}


def names(response: Any) -> list[str]:
    return [f"{row['market']}/{row['name']}" for row in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "",
            ["beta/cost-dashboard", "alpha/log-collector", "beta/log-collector", "alpha/redis-ops"],
        ),
        ("?q=redis", ["alpha/redis-ops"]),
        ("?q=backups", ["alpha/redis-ops"]),
        ("?q=logs", ["alpha/log-collector", "beta/log-collector"]),
        ("?q=fluent-bit", ["alpha/log-collector"]),
        ("?q=log+collector", ["alpha/log-collector", "beta/log-collector"]),
        ("?q=nothing-like-it", []),
        ("?category=observability", ["alpha/log-collector", "beta/log-collector"]),
        ("?category=finops", ["beta/cost-dashboard"]),
        ("?category=no-such", []),
        ("?market=beta", ["beta/cost-dashboard", "beta/log-collector"]),
        ("?market=alpha&q=log", ["alpha/log-collector"]),
        ("?market=beta&category=observability&q=logs", ["beta/log-collector"]),
        ("?market=no-such", []),
    ],
)
def test_app_list_filters(
    user_client: APIClient, catalogue: dict[str, Market], query: str, expected: list[str]
) -> None:
    response = user_client.get("/api/v1/apps/" + query)

    assert response.status_code == 200
    assert set(response.json()) == {"count", "next", "previous", "results"}
    assert names(response) == expected
    assert response.json()["count"] == len(expected)


def test_app_list_rows(user_client: APIClient, catalogue: dict[str, Market]) -> None:
    row = user_client.get("/api/v1/apps/?q=redis").json()["results"][0]

    assert row["market"] == "alpha" and row["name"] == "redis-ops"
    assert row["title"] == "Redis Ops" and row["latest"] == "1.3.0"
    assert row["category"] == "databases" and row["keywords"] == ["redis", "cache"]
    assert row["updated"]


def test_app_detail_has_every_version_and_the_readme(
    user_client: APIClient, catalogue: dict[str, Market]
) -> None:
    response = user_client.get("/api/v1/markets/alpha/apps/redis-ops/")

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "redis-ops" and body["market"] == "alpha"
    assert body["latest"] == "1.3.0"
    assert body["readme"].startswith("# redis-ops 1.3.0")
    assert sorted(v["version"] for v in body["versions"]) == ["1.2.0", "1.3.0"]
    version = next(v for v in body["versions"] if v["version"] == "1.3.0")
    stored = AppVersion.objects.get(app__market__name="alpha", version="1.3.0")
    assert version["digest"] == stored.digest and version["size"] == stored.size


def test_version_detail_has_manifest_readme_digest_and_dependencies(
    user_client: APIClient, catalogue: dict[str, Market]
) -> None:
    response = user_client.get("/api/v1/markets/beta/apps/log-collector/versions/2.0.0/")

    assert response.status_code == 200
    body = response.json()
    assert body["market"] == "beta" and body["app"] == "log-collector"
    assert body["version"] == "2.0.0"
    assert body["digest"].startswith("sha256:") and body["size"] > 0
    assert body["manifest"]["title"] == "Log Collector"
    assert body["manifest"]["version"] == "2.0.0"
    assert body["readme"].startswith("# log-collector 2.0.0")
    assert body["dependencies"] == [{"name": "redis-ops", "version": "^1.2.0"}]


def test_an_older_version_shows_its_own_readme(
    user_client: APIClient, catalogue: dict[str, Market]
) -> None:
    body = user_client.get("/api/v1/markets/alpha/apps/redis-ops/versions/1.2.0/").json()

    assert body["readme"].startswith("# redis-ops 1.2.0")
    assert body["dependencies"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/markets/nowhere/apps/redis-ops/",
        "/api/v1/markets/alpha/apps/cost-dashboard/",  # it is in beta, not alpha
        "/api/v1/markets/alpha/apps/no-such-app/",
        "/api/v1/markets/alpha/apps/redis-ops/versions/9.9.9/",
        "/api/v1/markets/beta/apps/redis-ops/versions/1.2.0/",
        "/api/v1/markets/alpha/apps/redis-ops/versions/not-a-version/",
    ],
)
def test_unknown_apps_and_versions_are_404(
    user_client: APIClient, catalogue: dict[str, Market], path: str
) -> None:
    response = user_client.get(path)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def _fill_catalogue(count: int) -> None:
    markets = [
        Market.objects.create(name=f"bulk-{index}", location=f"/srv/bulk-{index}")
        for index in range(3)
    ]
    for index in range(count):
        app = App.objects.create(
            market=markets[index % 3],
            name=f"app-{index:03}",
            title=f"App {index}",
            category="observability" if index % 2 else "databases",
            keywords=["bulk"],
            latest="1.0.0",
            readme="# long text\n" * 100,
        )
        AppVersion.objects.create(
            app=app, version="1.0.0", archive=f"app-{index:03}-1.0.0.tgz", digest="x", size=1
        )


@pytest.mark.parametrize("query", ["", "?q=bulk&category=databases", "?market=bulk-1"])
def test_app_list_costs_the_same_queries_for_5_or_50_apps(
    user_client: APIClient, django_assert_max_num_queries: Any, query: str
) -> None:
    _fill_catalogue(5)
    with CaptureQueriesContext(connection) as small:
        assert user_client.get("/api/v1/apps/" + query).status_code == 200
    App.objects.all().delete()
    Market.objects.all().delete()
    _fill_catalogue(50)

    with django_assert_max_num_queries(len(small.captured_queries)):
        response = user_client.get("/api/v1/apps/" + query)

    assert response.status_code == 200
    assert response.json()["count"] > 5
    assert len(small.captured_queries) <= 3
