"""Which catalogue apps the viewer runs somewhere: the catalogue and the app page mark
them ("installed in ns/name, version X").

Instances live in deployments/, which the catalogue never imports (deployments
depends on market, not the other way round: tests/portal/test_seams.py). So
deployments hands its readers in when it loads (DeploymentsConfig.ready), and
without it the catalogue simply marks nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from portal.permissions import AnyUser

if TYPE_CHECKING:
    from market.selectors.browse import CatalogueEntry


@dataclass(frozen=True)
class Installation:
    namespace: str
    name: str
    version: str
    market: str
    status: str
    url: str


InstalledReader = Callable[..., dict[str, list[Installation]]]

# ``ids(market=..., names=[...])``: the ids of every instance of those apps of the
# market, whoever may see them (sync reindexes them when their flags change).
InstanceIdsReader = Callable[..., list[int]]


@dataclass(frozen=True)
class _Readers:
    installed: InstalledReader
    instance_ids: InstanceIdsReader


_readers: list[_Readers] = []


def installed_readers_register(
    *, installed: InstalledReader, instance_ids: InstanceIdsReader
) -> None:
    """Called once by deployments at start-up: ``installed(user=..., names=[...])``
    answers the instances of each app name the user may see; ``instance_ids``, see
    ``InstanceIdsReader``."""
    _readers[:] = [_Readers(installed=installed, instance_ids=instance_ids)]


def instance_ids_of(*, market: object, names: list[str]) -> list[int]:
    """Ids of every instance of ``names`` from ``market``; none without deployments."""
    if not _readers or not names:
        return []
    return _readers[0].instance_ids(market=market, names=names)


def installed_by_app(*, user: AnyUser, names: list[str]) -> dict[str, list[Installation]]:
    """The user's installations of each of ``names``, by app name (one query)."""
    if not _readers or not names:
        return {}
    return _readers[0].installed(user=user, names=names)


def installed_mark(*, user: AnyUser, entries: Iterable[CatalogueEntry]) -> None:
    """Fill each catalogue entry's ``installed`` with the user's instances of it."""
    entries = list(entries)
    found = installed_by_app(user=user, names=[entry.name for entry in entries])
    for entry in entries:
        entry.installed = found.get(entry.name, [])
