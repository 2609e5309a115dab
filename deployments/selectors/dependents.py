"""Which deployed instances a change to one of their dependencies would break.

An instance installed with dependencies is linked to them (``Instance.depends_on``),
and its current version's manifest names the range it needs of each. A change that
leaves a linked, present dependent outside its range breaks it: an upgrade or rollback
to a version outside the range, or an uninstall (SPEC section 11)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from deployments.models import Instance
from deployments.workflow.resolve import PRESENT, declared_dependencies
from market.models import AppVersion
from market.semver import InvalidRange, InvalidVersion, parse_range


@dataclass(frozen=True)
class Dependent:
    namespace: str
    instance: str
    app: str
    range: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.instance} ({self.app} needs {self.range})"


def needed_range(dependent: Instance, app: str) -> str | None:
    """The range of ``app`` that ``dependent``'s current version declares, if any."""
    version = AppVersion.objects.filter(
        app__market_id=dependent.market_id, app__name=dependent.app_name, version=dependent.version
    ).first()
    if version is None:
        return None
    for name, wanted in declared_dependencies(version):
        if name == app:
            return wanted
    return None


def satisfies(version: str, wanted: str) -> bool:
    """Whether ``version`` is in the npm range ``wanted``; an unreadable one is not."""
    try:
        return parse_range(wanted).matches(version)
    except (InvalidRange, InvalidVersion):
        return False


@dataclass(frozen=True)
class Need:
    range: str
    met: bool


def dependency_need(dependent: Instance, dependency: Instance) -> Need | None:
    """The range ``dependent`` declares of ``dependency``'s app, and whether the
    version ``dependency`` runs meets it (None when it declares none)."""
    wanted = needed_range(dependent, dependency.app_name)
    if wanted is None:
        return None
    return Need(range=wanted, met=satisfies(dependency.version, wanted))


def dependents_broken_by(*, instance: Instance, version: str | None) -> list[Dependent]:
    """The present dependents of ``instance`` whose range ``version`` falls outside;
    with ``version`` None (an uninstall), every present dependent that names it."""
    broken = []
    for dependent in (
        instance.dependents.filter(status__in=PRESENT)
        .select_related("namespace")
        .order_by("namespace__name", "name")
    ):
        wanted = needed_range(dependent, instance.app_name)
        if wanted is None:
            continue
        if version is None or not satisfies(version, wanted):
            broken.append(
                Dependent(
                    namespace=dependent.namespace.name,
                    instance=dependent.name,
                    app=dependent.app_name,
                    range=wanted,
                )
            )
    return broken
