"""Which archive an operation installs, and which dependencies come first.

Resolution reads only the database (manifests are stored with each version),
so a request can be answered with every problem before anything is queued."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from deployments.models import Instance, InstanceStatus, Namespace
from market.models import AppVersion, Market
from market.semver import InvalidRange, InvalidVersion, max_satisfying, parse_range, parse_version
from portal.services.errors import Invalid, Refused


class VersionYanked(Refused):
    """The exact version asked for is yanked (SPEC 14): installed only with force."""

    code = "yanked"

    def __init__(self, version: AppVersion) -> None:
        super().__init__(
            f"{version.app.name} {version.version} is yanked: {version.yanked}"
            " Choose another version, or force it."
        )
        self.extra = {"app": version.app.name, "version": version.version, "reason": version.yanked}


# Statuses in which an instance counts as present for a dependency: installing
# ones too, since their operation runs before the dependent's.
PRESENT = (InstanceStatus.DEPLOYED, InstanceStatus.INSTALLING, InstanceStatus.UPGRADING)


@dataclass
class InstallPlan:
    """``missing`` are installed first, in this order (dependencies before their
    dependents); ``present`` are instances already in the namespace that satisfy
    a range and become dependencies of the new instance."""

    root: AppVersion
    missing: list[AppVersion] = field(default_factory=list)
    present: list[Instance] = field(default_factory=list)
    # app name -> names of the apps it needs, for linking the new instances.
    needs: dict[str, list[str]] = field(default_factory=dict)


def declared_dependencies(version: AppVersion) -> list[tuple[str, str]]:
    return [
        (str(d["name"]), str(d.get("version") or "*"))
        for d in version.manifest.get("dependencies") or []
        if isinstance(d, dict) and isinstance(d.get("name"), str)
    ]


def _no_such_app(market: Market, app: str) -> Invalid:
    return Invalid(f"Market {market.name!r} has no app named {app!r}.")


def _app_must_exist(versions: QuerySet[AppVersion], *, market: Market, app: str) -> None:
    """Raise the unknown-app refusal when ``versions`` is empty: asked only when a
    refusal is worded, so a request naming an existing version costs one query."""
    if not versions.exists():
        raise _no_such_app(market, app) from None


def version_resolve(
    *, market: Market, app: str, version: str | None, allow_yanked: bool = False
) -> AppVersion:
    """The AppVersion to install: the exact version asked for, or the latest that
    is not yanked. A yanked version asked for exactly raises VersionYanked unless
    ``allow_yanked`` (SPEC 14: "only the exact version, with force")."""
    versions = AppVersion.objects.select_related("app", "app__market").filter(
        app__market=market, app__name=app
    )
    if version:
        try:
            parse_version(version)
        except InvalidVersion as exc:
            _app_must_exist(versions, market=market, app=app)
            raise Invalid(f"Version {version!r} is not SemVer: {exc}") from None
        # The row first, the app's existence only to word a refusal: one query for
        # every request that names a version that exists (bench/workflow.py).
        row = versions.filter(version=version).first()
        if row is None:
            _app_must_exist(versions, market=market, app=app)
            raise Invalid(f"{app} has no version {version} in market {market.name!r}.")
        if row.yanked and not allow_yanked:
            raise VersionYanked(row)
        return row
    rows = list(versions)
    if not rows:
        raise _no_such_app(market, app)
    best = max_satisfying([row.version for row in rows if not row.yanked], "*")
    if best is None:
        raise Invalid(f"{app} has no release version in market {market.name!r} that is not yanked.")
    return next(row for row in rows if row.version == str(best))


def _offer(name: str, range_text: str, prefer: Market) -> AppVersion | None:
    """The highest version satisfying the range, from the dependent's own market
    first, then from the other markets by name."""
    rows = list(
        AppVersion.objects.select_related("app", "app__market")
        .filter(app__name=name)
        .order_by("app__market__name")
    )
    markets = sorted({r.app.market for r in rows}, key=lambda m: (m.pk != prefer.pk, m.name))
    for market in markets:
        # A yanked version is never chosen for a range (SPEC 14).
        candidates = [r.version for r in rows if r.app.market_id == market.pk and not r.yanked]
        best = max_satisfying(candidates, range_text)
        if best is not None:
            return next(r for r in rows if r.app.market_id == market.pk and r.version == str(best))
    return None


def install_plan(*, namespace: Namespace, root: AppVersion) -> InstallPlan:
    """Walk the dependency graph depth-first. A cycle, a range no market satisfies,
    or an instance of the app present at a version outside the range is refused
    with the path that leads to it."""
    plan = InstallPlan(root=root)
    present = {
        i.app_name: i
        for i in Instance.objects.filter(namespace=namespace, status__in=PRESENT).order_by("pk")
    }
    planned: dict[str, AppVersion] = {}

    def visit(version: AppVersion, path: list[str]) -> None:
        name = version.app.name
        needs: list[str] = []
        for dep_name, range_text in declared_dependencies(version):
            chain = " -> ".join([*path, dep_name])
            if dep_name in path:
                raise Invalid(f"Dependency cycle: {chain}.")
            try:
                parse_range(range_text)
            except InvalidRange as exc:
                raise Invalid(f"{chain}: range {range_text!r} is invalid: {exc}") from None
            needs.append(dep_name)
            existing = present.get(dep_name)
            if existing is not None:
                if max_satisfying([existing.version], range_text) is None:
                    raise Invalid(
                        f"{chain}: instance {existing.name} runs {dep_name} {existing.version},"
                        f" outside {range_text!r}; upgrade it first."
                    )
                if existing not in plan.present:
                    plan.present.append(existing)
                continue
            chosen = planned.get(dep_name)
            if chosen is not None:
                if max_satisfying([chosen.version], range_text) is None:
                    raise Invalid(
                        f"{chain}: needs {range_text!r} but {dep_name} {chosen.version}"
                        " is already planned for another dependent."
                    )
                continue
            offer = _offer(dep_name, range_text, version.app.market)
            if offer is None:
                raise Invalid(f"{chain}: no subscribed market offers {dep_name} {range_text}.")
            planned[dep_name] = offer
            visit(offer, [*path, dep_name])
            plan.missing.append(offer)
        plan.needs[name] = needs

    visit(root, [root.app.name])
    return plan
