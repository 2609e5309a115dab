"""Looking at deployed instances for what to tell their people: a newer version
in the catalogue (a), an advisory that affects the running version (b), a yanked
version running (c); and emitting what a lost message left of failed operations (d).

Every emission goes through ``event_emit``, whose unique key makes a scan that runs
twice (or on two workers at once) emit each fact once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from deployments.models import Instance, InstanceStatus, Operation, OperationState
from market.models import App, AppVersion
from market.selectors.advisories import advisories_affecting
from market.semver import InvalidVersion, Version, parse_version
from notifications.models import Event
from notifications.services.events import (
    event_advisory,
    event_new_version,
    event_operation_failed,
    event_yanked,
    operation_failed_key,
)

log = logging.getLogger(__name__)

FAILED_STATES = (OperationState.FAILED, OperationState.ROLLED_BACK)
# Failed operations this recent whose event is missing are emitted by the scan.
FAILED_LOOKBACK = timedelta(days=2)


@dataclass(frozen=True)
class CatalogueFlags:
    advisories: list[dict[str, Any]] = field(default_factory=list)
    yanked_reason: str | None = None
    # Versions of the instance's app that are yanked: never offered as "new".
    yanked_versions: frozenset[str] = frozenset()


def _app_versions(instances: Iterable[Instance]) -> dict[tuple[int, str], dict[str, str]]:
    """Every catalogue version of each instance's app with its yank reason ("" when
    not yanked), by (market id, app name): one query for a batch of instances."""
    wanted = {(instance.market_id, instance.app_name) for instance in instances}
    found: dict[tuple[int, str], dict[str, str]] = {key: {} for key in wanted}
    if not wanted:
        return found
    rows = AppVersion.objects.filter(
        app__market_id__in={market for market, _ in wanted},
        app__name__in={name for _, name in wanted},
    ).values_list("app__market_id", "app__name", "version", "yanked")
    for market_id, name, version, reason in rows:
        if (market_id, name) in found:
            found[(market_id, name)][version] = reason
    return found


def catalogue_flags(
    instances: Iterable[Instance],
    *,
    versions: dict[tuple[int, str], dict[str, str]] | None = None,
) -> dict[int, CatalogueFlags]:
    """The catalogue's flags for each instance, by instance id, in two queries for
    a batch (SPEC 14): the advisories of ``App.advisories`` whose ``affected`` range
    holds the instance's version (read by ``advisories_affecting``, the one reading
    of a range), the instance's own version's ``AppVersion.yanked`` reason, and every
    yanked version of its app (never offered as "new"). ``versions``: the batch's
    ``_app_versions`` when the caller read them already (the scan: one query less)."""
    rows = list(instances)
    wanted = {(instance.market_id, instance.app_name) for instance in rows}
    if not wanted:
        return {}
    if versions is None:
        versions = _app_versions(rows)
    advisories = {
        (market, name): listed
        for market, name, listed in App.objects.filter(
            market_id__in={market for market, _ in wanted},
            name__in={name for _, name in wanted},
        ).values_list("market_id", "name", "advisories")
    }
    flags = {}
    for instance in rows:
        key = (instance.market_id, instance.app_name)
        reasons = {version: reason for version, reason in versions.get(key, {}).items() if reason}
        flags[instance.pk] = CatalogueFlags(
            advisories=advisories_affecting(
                advisories=advisories.get(key), version=instance.version
            ),
            yanked_reason=reasons.get(instance.version) or None,
            yanked_versions=frozenset(reasons),
        )
    return flags


def _newest_version(versions: Iterable[str], skip: frozenset[str]) -> tuple[Version, str] | None:
    newest: tuple[Version, str] | None = None
    for text in versions:
        if text in skip:
            continue
        try:
            version = parse_version(text)
        except InvalidVersion:
            continue
        # Pre-releases are not offered: a team running 1.0 wants to hear of 1.1, not 1.1-rc.1.
        if version.prerelease:
            continue
        if newest is None or version > newest[0]:
            newest = (version, text)
    return newest


def catalogue_versions(instances: Iterable[Instance]) -> dict[tuple[int, str], list[str]]:
    """Every version in the catalogue of each instance's app, by (market id, app
    name): one query for a batch of instances."""
    return {key: list(found) for key, found in _app_versions(instances).items()}


def newer_version(
    instance: Instance, flags: CatalogueFlags, versions: list[str] | None = None
) -> str | None:
    """The newest non-yanked version of the instance's app above the one it runs
    (``versions``: the app's, from ``catalogue_versions``; read here when None)."""
    try:
        running = parse_version(instance.version)
    except InvalidVersion:
        return None
    if versions is None:
        versions = catalogue_versions([instance])[(instance.market_id, instance.app_name)]
    newest = _newest_version(versions, flags.yanked_versions)
    if newest is None or newest[0] <= running:
        return None
    return newest[1]


def deployed_instances() -> QuerySet[Instance]:
    return (
        Instance.objects.filter(status=InstanceStatus.DEPLOYED)
        .exclude(version="")
        .select_related("namespace", "market")
        .order_by("pk")
    )


def instances_scan(*, batch: int = 500) -> int:
    """Emit the events (a), (b) and (c) for every deployed instance, then (d) for
    recent failed operations without one. Returns how many events were new."""
    emitted = 0
    rows = list(deployed_instances())
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        # One read of the batch's catalogue versions serves the flags and "new".
        versions = _app_versions(chunk)
        flags = catalogue_flags(chunk, versions=versions)
        for instance in chunk:
            emitted += _instance_scan(
                instance,
                flags.get(instance.pk, CatalogueFlags()),
                list(versions[(instance.market_id, instance.app_name)]),
            )
    emitted += failed_operations_scan()
    return emitted


def _instance_scan(instance: Instance, flags: CatalogueFlags, versions: list[str]) -> int:
    emitted = 0
    version = newer_version(instance, flags, versions)
    if version is not None and event_new_version(instance=instance, version=version):
        emitted += 1
    for advisory in flags.advisories:
        if event_advisory(instance=instance, advisory=advisory):
            emitted += 1
    if flags.yanked_reason is not None and event_yanked(
        instance=instance, reason=flags.yanked_reason
    ):
        emitted += 1
    return emitted


def failed_operations_scan() -> int:
    """The repair for ``operation-failed`` events: the engine queues one after each
    failure commits, and a message lost on the way is found here."""
    since = timezone.now() - FAILED_LOOKBACK
    emitted = set(
        Event.objects.filter(
            key__startswith=operation_failed_key(""), created_at__gte=since
        ).values_list("key", flat=True)
    )
    operations = Operation.objects.filter(
        state__in=FAILED_STATES, finished_at__gte=since
    ).select_related("instance", "instance__namespace", "instance__market")
    count = 0
    for operation in operations:
        if operation_failed_key(operation.pk) in emitted:
            continue
        if event_operation_failed(operation=operation):
            count += 1
    return count


def operation_failed_notify(*, operation_id: str) -> Event | None:
    """After the engine committed a failure: emit its event (once)."""
    operation = (
        Operation.objects.select_related("instance", "instance__namespace", "instance__market")
        .filter(pk=operation_id, state__in=FAILED_STATES)
        .first()
    )
    if operation is None:
        return None
    return event_operation_failed(operation=operation)
