"""Yanked versions and advisories (SPEC 14) in markets: the commands that write them,
the signed market.json that covers them, and syncs over HTTP and S3 that carry them
into a subscriber's catalogue. Hostile index entries are refused with a reason and
change nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from market.index import sha256_hex
from market.models import App, AppVersion, Market
from market.selectors.advisories import advisories_affecting
from market.services.markets import market_add, market_init
from market.services.sync import market_sync
from market.services.yank import advisory_add, version_yank
from market.signing import signatures_check
from market.storage.cas import dump_json
from portal.actors import Actor
from portal.models import AuditEvent, Role
from portal.services.errors import Forbidden, Invalid, NotFound
from tests.factories import make_team, make_user
from tests.market.api_helpers import (
    catalogue_state,
    publish_small,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    run_command,
    tree,
)
from tests.market.storage_fixtures import MarketHTTPServer, new_bucket, s3_credentials

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_tasks", "loopback_only")]

ADVISORY = {
    "id": "OMSA-2026-001",
    "severity": "high",
    "affected": ">=1.0.0 <1.1.0",
    "fixed": "1.1.0",
    "summary": "Tokens written to the log at debug level.",
}


def _index(root: Path, app: str) -> dict[str, Any]:
    return json.loads((root / "apps" / app / "index.json").read_bytes())


@pytest.fixture
def origin(http_market: MarketHTTPServer) -> Market:
    market_init(location=str(http_market.root), name="origin")
    market = market_add(
        actor=Actor.system(), name="origin", location=str(http_market.root), writable=True
    )
    publish_small(market, "app-a", "1.0.0")
    publish_small(market, "app-a", "1.1.0")
    return market


def subscribe(http_market: MarketHTTPServer, name: str = "remote", **kw: Any) -> Market:
    return market_add(
        actor=Actor.system(),
        name=name,
        location=http_market.url,
        allow_private_network=True,
        **kw,
    )


# ------------------------------------------------------------------ commands


def test_market_yank_writes_the_index_the_catalogue_and_an_audit_record(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    serial = json.loads((http_market.root / "market.json").read_bytes())["serial"]

    done = run_command("market_yank", "origin", "app-a", "1.1.0", reason="Breaks TLS reload.")
    again = run_command("market_yank", "origin", "app-a", "1.1.0", reason="Breaks TLS reload.")

    assert done.status == 0, done.stderr
    assert done.stdout.strip() == "yanked app-a 1.1.0 in origin"
    assert "unchanged" in again.stdout
    entry = _index(http_market.root, "app-a")["versions"]["1.1.0"]
    assert entry["yanked"] == "Breaks TLS reload."
    market_doc = json.loads((http_market.root / "market.json").read_bytes())
    assert market_doc["serial"] == serial + 1  # the repeat wrote nothing
    assert market_doc["apps"]["app-a"]["index_digest"] == sha256_hex(
        (http_market.root / "apps/app-a/index.json").read_bytes()
    )
    row = AppVersion.objects.get(app__market=origin, app__name="app-a", version="1.1.0")
    assert row.yanked == "Breaks TLS reload."
    # The latest offered to installs skips the yanked version.
    assert App.objects.get(market=origin, name="app-a").latest == "1.0.0"
    assert AuditEvent.objects.filter(action="version.yank").count() == 1

    undone = run_command("market_yank", "origin", "app-a", "1.1.0", undo=True)
    assert undone.status == 0 and undone.stdout.startswith("unyanked")
    assert "yanked" not in _index(http_market.root, "app-a")["versions"]["1.1.0"]
    row.refresh_from_db()
    assert row.yanked == ""
    assert App.objects.get(market=origin, name="app-a").latest == "1.1.0"
    assert AuditEvent.objects.filter(action="version.unyank").count() == 1


def test_market_advisory_adds_replaces_and_removes(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    options = {k if k != "id" else "advisory_id": v for k, v in ADVISORY.items()}
    added = run_command("market_advisory", "origin", "app-a", **options)
    replaced = run_command(
        "market_advisory", "origin", "app-a", **{**options, "severity": "critical"}
    )

    assert added.status == 0, added.stderr
    assert replaced.status == 0, replaced.stderr
    stored = _index(http_market.root, "app-a")["advisories"]
    assert stored == [{**ADVISORY, "severity": "critical"}]
    app = App.objects.get(market=origin, name="app-a")
    assert app.advisories == stored
    assert [a["id"] for a in advisories_affecting(advisories=app.advisories, version="1.0.0")] == [
        "OMSA-2026-001"
    ]
    assert advisories_affecting(advisories=app.advisories, version="1.1.0") == []

    removed = run_command("market_advisory", "origin", "app-a", remove="OMSA-2026-001")
    missing = run_command("market_advisory", "origin", "app-a", remove="OMSA-2026-001")
    assert removed.status == 0, removed.stderr
    assert "advisories" not in _index(http_market.root, "app-a")
    assert App.objects.get(market=origin, name="app-a").advisories == []
    assert missing.status == 1 and "no advisory OMSA-2026-001" in missing.stderr
    assert AuditEvent.objects.filter(action__startswith="advisory.").count() == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"affected": ">=1.0.0 <<2"}, "affected"),
        ({"affected": ""}, "range is empty"),
        ({"severity": "urgent"}, "severity must be one of"),
        ({"fixed": "v1.1"}, "fixed"),
        ({"summary": "x" * 501}, "longer than 500"),
        ({"advisory_id": "../etc"}, "id must be"),
    ],
)
def test_a_bad_advisory_is_refused_and_changes_nothing(
    origin: Market, http_market: MarketHTTPServer, change: dict[str, str], message: str
) -> None:
    before, catalogue = tree(http_market.root), catalogue_state(origin)
    options = {k if k != "id" else "advisory_id": v for k, v in ADVISORY.items()}
    # Severity is a choice on the command line; the service refuses it too.
    if "severity" in change:
        with pytest.raises(Invalid, match=message):
            advisory_add(
                actor=Actor.system(),
                market=origin,
                app="app-a",
                advisory={**ADVISORY, **change},
            )
    else:
        result = run_command("market_advisory", "origin", "app-a", **{**options, **change})
        assert result.status == 1
        assert message in result.stderr
    assert tree(http_market.root) == before
    assert catalogue_state(origin) == catalogue
    assert not AuditEvent.objects.filter(action__startswith="advisory.").exists()


def test_a_yank_without_a_good_reason_or_of_an_unknown_version_is_refused(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    before = tree(http_market.root)
    blank = run_command("market_yank", "origin", "app-a", "1.1.0", reason="  ")
    huge = run_command("market_yank", "origin", "app-a", "1.1.0", reason="x" * 501)
    control = run_command("market_yank", "origin", "app-a", "1.1.0", reason="a\x1b[2Jb")
    unknown = run_command("market_yank", "origin", "app-a", "9.9.9", reason="old")
    no_app = run_command("market_yank", "origin", "app-z", "1.0.0", reason="old")
    no_market = run_command("market_yank", "nowhere", "app-a", "1.0.0", reason="old")

    assert [r.status for r in (blank, huge, control, unknown, no_app, no_market)] == [1] * 6
    assert "reason is empty" in blank.stderr
    assert "longer than 500" in huge.stderr
    assert "control characters" in control.stderr
    assert "no version 9.9.9" in unknown.stderr
    assert "no app app-z" in no_app.stderr
    assert "no such market" in no_market.stderr
    assert tree(http_market.root) == before
    assert not AppVersion.objects.exclude(yanked="").exists()


def test_only_publishers_may_yank(origin: Market, http_market: MarketHTTPServer) -> None:
    operator, viewer, stranger = make_user("op"), make_user("viewer"), make_user("stranger")
    team = make_team("publishers", members={operator: Role.OPERATOR, viewer: Role.VIEWER})
    origin.publishers.add(team)
    before = tree(http_market.root)

    for user in (viewer, stranger):
        with pytest.raises(Forbidden):
            version_yank(
                actor=Actor(user=user), market=origin, app="app-a", version="1.0.0", reason="r"
            )
    assert tree(http_market.root) == before

    version_yank(
        actor=Actor(user=operator), market=origin, app="app-a", version="1.0.0", reason="r"
    )
    assert AppVersion.objects.get(app__market=origin, version="1.0.0").yanked == "r"
    assert AuditEvent.objects.get(action="version.yank").actor_label == "op"


def test_a_read_only_market_cannot_yank(http_market: MarketHTTPServer, origin: Market) -> None:
    reader = subscribe(http_market)
    market_sync(market=reader)
    with pytest.raises(Invalid, match="read-only"):
        version_yank(actor=Actor.system(), market=reader, app="app-a", version="1.0.0", reason="r")
    with pytest.raises(NotFound):
        version_yank(actor=Actor.system(), market=origin, app="app-a", version="2.0.0", reason="r")


# ------------------------------------------------------------------ signed markets


def test_a_yank_in_a_signed_market_is_signed_and_a_pinned_subscriber_takes_it(
    http_market: MarketHTTPServer, tmp_path: Path
) -> None:
    team = make_team("platform-sre")
    market_init(location=str(http_market.root), name="origin", sign_team=team)
    origin = market_add(
        actor=Actor.system(), name="origin", location=str(http_market.root), writable=True
    )
    publish_small(origin, "app-a", "1.0.0")
    root_doc = (http_market.root / "root.json").read_bytes()
    subscriber = subscribe(http_market, trust_root=root_doc)
    market_sync(market=subscriber)

    version_yank(
        actor=Actor.system(), market=origin, app="app-a", version="1.0.0", reason="Bad build."
    )
    advisory_add(actor=Actor.system(), market=origin, app="app-a", advisory=ADVISORY)
    report = market_sync(market=subscriber)

    market_doc = json.loads((http_market.root / "market.json").read_bytes())
    root = json.loads(root_doc)
    assert signatures_check(market_doc, keys=root["keys"], threshold=1, what="m")
    assert report.updated == ["app-a"]
    assert subscriber.signature["verified"] is True
    row = AppVersion.objects.get(app__market=subscriber, version="1.0.0")
    assert row.yanked == "Bad build."
    assert App.objects.get(market=subscriber).advisories == [ADVISORY]


# ------------------------------------------------------------------ sync


def test_sync_over_http_carries_yanks_advisories_and_their_undoing(
    origin: Market, http_market: MarketHTTPServer
) -> None:
    subscriber = subscribe(http_market)
    market_sync(market=subscriber)
    version_yank(actor=Actor.system(), market=origin, app="app-a", version="1.1.0", reason="r1")
    advisory_add(actor=Actor.system(), market=origin, app="app-a", advisory=ADVISORY)

    market_sync(market=subscriber)
    rows = dict(AppVersion.objects.filter(app__market=subscriber).values_list("version", "yanked"))
    app = App.objects.get(market=subscriber)
    assert rows == {"1.0.0": "", "1.1.0": "r1"}
    assert app.advisories == [ADVISORY]
    assert app.latest == "1.0.0"

    run_command("market_yank", "origin", "app-a", "1.1.0", undo=True)
    run_command("market_advisory", "origin", "app-a", remove=ADVISORY["id"])
    market_sync(market=subscriber)
    rows = dict(AppVersion.objects.filter(app__market=subscriber).values_list("version", "yanked"))
    assert rows == {"1.0.0": "", "1.1.0": ""}
    assert App.objects.get(market=subscriber).advisories == []


def test_sync_over_s3_carries_yanks_and_advisories(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = new_bucket(moto_endpoint)
    location = f"s3://{bucket}/markets/team"
    for name, value in s3_credentials().items():
        monkeypatch.setenv(name.upper(), value)
    s3 = {"endpoint_url": moto_endpoint, "allow_private_network": True}
    assert run_command("market_init", location, name="team", **s3).status == 0
    assert run_command("market_add", "team", location, writable=True, **s3).status == 0
    publish_small(Market.objects.get(name="team"), "app-s3", "1.0.0")
    assert run_command("market_add", "team-reader", location, **s3).status == 0
    run_command("market_sync", "team-reader")

    yanked = run_command("market_yank", "team", "app-s3", "1.0.0", reason="Leaks memory.")
    advised = run_command(
        "market_advisory",
        "team",
        "app-s3",
        advisory_id="OMSA-1",
        severity="critical",
        affected="<2.0.0",
        summary="Remote code execution.",
    )
    synced = run_command("market_sync", "team-reader")

    assert yanked.status == 0 and advised.status == 0, yanked.stderr + advised.stderr
    assert "updated app-s3" in synced.stdout
    row = AppVersion.objects.get(app__market__name="team-reader")
    assert row.yanked == "Leaks memory."
    assert App.objects.get(market__name="team-reader").advisories[0]["id"] == "OMSA-1"


def _advisory(**change: Any) -> dict[str, Any]:
    return {"id": "A-1", "severity": "low", "affected": "*", "summary": "s", **change}


HOSTILE_INDEXES = [
    ("advisories", "not a list", "advisories must be a list"),
    ("advisories", [_advisory(affected="1.0.0 ||")], "empty alternative"),
    ("advisories", [_advisory(severity="urgent")], "severity"),
    ("advisories", [_advisory(summary="s" * 10_000)], "longer than 500"),
    ("advisories", [_advisory(id="A" * 300)], "id must be"),
    ("advisories", [_advisory(fixed=3)], "fixed"),
    ("advisories", [dict(ADVISORY)] * 2, "repeats"),
    ("advisories", [_advisory(id=f"A-{i}") for i in range(101)], "more than 100"),
    ("yanked", 42, "yanked must be a string"),
    ("yanked", "y" * 100_000, "longer than 500"),
    ("yanked", "", "yanked is empty"),
]


@pytest.mark.parametrize(("where", "value", "reason"), HOSTILE_INDEXES)
def test_a_hostile_index_is_skipped_with_its_reason_and_the_catalogue_kept(
    origin: Market, http_market: MarketHTTPServer, where: str, value: Any, reason: str
) -> None:
    subscriber = subscribe(http_market)
    market_sync(market=subscriber)
    before = catalogue_state(subscriber)
    path = http_market.root / "apps/app-a/index.json"
    index = json.loads(path.read_bytes())
    if where == "yanked":
        index["versions"]["1.1.0"]["yanked"] = value
    else:
        index["advisories"] = value
    data = dump_json(index)
    path.write_bytes(data)
    market_doc = json.loads((http_market.root / "market.json").read_bytes())
    market_doc["apps"]["app-a"]["index_digest"] = sha256_hex(data)
    market_doc["serial"] += 1
    (http_market.root / "market.json").write_bytes(dump_json(market_doc))

    report = market_sync(market=subscriber)

    assert report.updated == []
    assert [s["app"] for s in report.skipped] == ["app-a"]
    assert reason in report.skipped[0]["reason"]
    assert catalogue_state(subscriber) == before
