"""(a) a newer version in the catalogue and (d) a failed operation, end to end: real
installs through the workflow engine on a real market, the scan run as the beat
runs it, each fact told once however often the scan runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.models import Instance, Namespace, Operation
from deployments.services.instances import instance_install
from market.models import Market
from notifications.models import Delivery, Event, Notification
from notifications.services.detection import (
    CatalogueFlags,
    catalogue_flags,
    failed_operations_scan,
    instances_scan,
    newer_version,
)
from notifications.services.subscriptions import subscription_create
from portal.actors import Actor
from portal.models import Role
from tests.factories import make_namespace, make_team, make_user
from tests.notifications.conftest import Receiver
from tests.notifications.helpers import catalogue_app, deployed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_tasks")]


def install(operator: Any, namespace: Namespace, market: Market, version: str) -> Instance:
    requested = instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        market=market,
        name="shop",
        app="web-app",
        version=version,
    )
    return Instance.objects.get(pk=requested.instance.pk)


def test_new_version_is_told_once_however_often_the_scan_runs(
    gitops_repo: Path,
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
    receiver: Receiver,
) -> None:
    hook = subscription_create(
        actor=Actor(user=operator), channel="webhook", events=["new-version"], url=receiver.url
    )
    subscription_create(actor=Actor(user=operator), channel="portal", events=["new-version"])
    shop = install(operator, namespace, apps_market, "1.0.0")
    assert shop.status == "deployed"

    first = instances_scan()
    second = instances_scan()

    # web-app has 1.1.0 and 1.2.0 in the catalogue: the newest is told.
    key = f"new-version:{shop.pk}:1.2.0"
    assert (first, second) == (1, 0)
    assert list(Event.objects.values_list("key", flat=True)) == [key]
    assert len(receiver.received) == 1 and receiver.received[0].signed_with(hook.secret)
    assert receiver.received[0].json()["data"]["new_version"] == "1.2.0"
    inbox = Notification.objects.get(user=operator)
    assert inbox.event.key == key and inbox.read_at is None
    assert Delivery.objects.count() == 2


def test_a_failed_operation_is_told_once_to_whoever_may_see_the_instance(
    gitops_repo: Path,
    apps_market: Market,
    namespace: Namespace,
    operator: Any,
    receiver: Receiver,
) -> None:
    teammate = make_user("tess")
    namespace.team.memberships.create(user=teammate, role=Role.VIEWER)
    outsider = make_user("mallory")
    make_team("other", members={outsider: Role.ADMIN})
    staff = make_user("root", staff=True)
    team_admin = make_user("ada")
    namespace.team.memberships.create(user=team_admin, role=Role.ADMIN)
    subscription_create(
        actor=Actor(user=team_admin),
        channel="portal",
        events=["operation-failed"],
        team=namespace.team,
    )
    subscription_create(actor=Actor(user=outsider), channel="portal", events=["operation-failed"])
    subscription_create(
        actor=Actor(user=outsider), channel="webhook", events=["operation-failed"], url=receiver.url
    )
    subscription_create(actor=Actor(user=staff), channel="portal", events=["operation-failed"])

    shop = install(operator, namespace, apps_market, "1.2.0")  # its template is broken
    operation = Operation.objects.get(instance=shop)
    assert operation.state == "failed"
    # The beat's repair of lost messages finds nothing left to emit.
    assert failed_operations_scan() == 0

    event = Event.objects.get()
    assert event.key == f"operation-failed:{operation.pk}"
    assert event.payload["operation"]["error"].startswith("verify")
    assert sorted(Notification.objects.values_list("user__username", flat=True)) == [
        "ada",
        "olga",
        "root",
        "tess",
    ]
    assert receiver.received == []  # mallory may not see pay-prod/shop


def test_failed_operation_whose_message_was_lost_is_emitted_by_the_scan(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    subscription_create(actor=Actor(user=operator), channel="portal", events=["operation-failed"])
    shop = install(operator, namespace, apps_market, "1.2.0")
    Event.objects.all().delete()  # as if the engine's message never reached a worker
    Notification.objects.all().delete()

    assert instances_scan() == 1
    assert instances_scan() == 0

    operation = Operation.objects.get(instance=shop)
    assert Notification.objects.get(user=operator).event.key == f"operation-failed:{operation.pk}"


def test_newer_version_skips_yanked_and_prerelease_versions(db: None) -> None:
    team = make_team("t")
    market = Market.objects.create(name="m", location="/tmp/none")
    catalogue_app(market, "db", ["1.0.0", "1.1.0", "1.2.0", "2.0.0-rc.1", "not-semver"])
    instance = deployed(make_namespace(team, "ns"), market, "db", "1.0.0")

    assert newer_version(instance, CatalogueFlags()) == "1.2.0"
    assert newer_version(instance, CatalogueFlags(yanked_versions=frozenset({"1.2.0"}))) == "1.1.0"
    instance.version = "1.2.0"
    assert newer_version(instance, CatalogueFlags()) is None


def test_an_advisory_and_a_yanked_version_running_are_told_once_by_the_scan(
    db: None, receiver: Receiver
) -> None:
    team = make_team("t")
    owner = make_user("owen")
    team.memberships.create(user=owner, role=Role.OPERATOR)
    market = Market.objects.create(name="m", location="/tmp/none")
    app = catalogue_app(market, "db", ["1.0.0", "1.1.0", "1.2.0"])
    app.advisories = [
        {"id": "OM-1", "severity": "high", "affected": "<1.1.0", "fixed": "1.1.0", "summary": "x"},
        {"id": "OM-2", "severity": "low", "affected": ">=1.2.0", "summary": "y"},
    ]
    app.save()
    app.versions.filter(version="1.0.0").update(yanked="corrupts data on restart")
    app.versions.filter(version="1.2.0").update(yanked="bad build")
    old = deployed(make_namespace(team, "ns"), market, "db", "1.0.0", name="old")
    current = deployed(old.namespace, market, "db", "1.1.0", name="current")
    hook = subscription_create(
        actor=Actor(user=owner),
        channel="webhook",
        events=["advisory", "yanked", "new-version"],
        url=receiver.url,
    )

    flags = catalogue_flags([old, current])
    assert [a["id"] for a in flags[old.pk].advisories] == ["OM-1"]
    assert flags[old.pk].yanked_reason == "corrupts data on restart"
    assert flags[current.pk] == CatalogueFlags(yanked_versions=frozenset({"1.0.0", "1.2.0"}))

    assert (instances_scan(), instances_scan()) == (3, 0)
    # 1.2.0 is yanked: 1.1.0 is the newest version offered to "old"; "current" runs it.
    assert sorted(Event.objects.values_list("key", flat=True)) == sorted(
        [f"advisory:{old.pk}:OM-1", f"yanked:{old.pk}:1.0.0", f"new-version:{old.pk}:1.1.0"]
    )
    assert len(receiver.received) == 3
    assert all(request.signed_with(hook.secret) for request in receiver.received)


def test_the_scan_reads_a_batch_of_instances_catalogue_versions_once(db: None) -> None:
    team = make_team("t")
    market = Market.objects.create(name="m", location="/tmp/none")
    namespace = make_namespace(team, "ns")
    for app in ("db", "cache", "queue"):
        catalogue_app(market, app, ["1.0.0", "1.1.0"])
        deployed(namespace, market, app, "1.1.0")

    with CaptureQueriesContext(connection) as queries:
        assert instances_scan() == 0

    versions_read = [query for query in queries if 'FROM "market_appversion"' in query["sql"]]
    assert len(versions_read) == 1
