"""Yanking versions and publishing advisories (SPEC 14), publishers only.

Both change one app's index.json in the market's storage and are written the way
a publish writes (`market.services.publish.index_update`): index.json by
compare-and-swap, then market.json, re-signed when the market is signed. Then one
transaction stores the new index in the catalogue (so installs see the yank at
once, not after the next sync) and writes the audit record.

A yank never deletes anything: the archive stays, instances running the version
keep running and are flagged, and an install of exactly that version with force
still works (SPEC 14)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from market.index import (
    MarketDocumentError,
    check_advisory,
    check_yank_reason,
    index_put_advisory,
    index_remove_advisory,
    index_set_yanked,
)
from market.models import App, Market
from market.services.markets import storage_for_market
from market.services.publish import can_publish, index_update
from market.storage.base import ReadOnlyStorage
from portal.actors import Actor
from portal.services.audit import audit_record
from portal.services.errors import Forbidden, Invalid, NotFound


@dataclass(frozen=True)
class IndexChange:
    app: str
    changed: bool  # False when the index already said so (a repeated request)


@dataclass(frozen=True)
class AdvisoryChange(IndexChange):
    advisory: dict[str, str]  # as stored: checked and normalised
    created: bool  # False when it replaced one with the same id


def _require_publisher(actor: Actor, market: Market) -> None:
    if not market.writable:
        raise Invalid(
            f"Market {market.name} is read-only: yanks and advisories need a writable one."
        )
    if actor.user is not None and not can_publish(actor.user, market):
        raise Forbidden(f"Only publishers of market {market.name} may yank or publish advisories.")


def _app(market: Market, name: str) -> App:
    app = App.objects.filter(market=market, name=name).first()
    if app is None:
        raise NotFound(f"Market {market.name} has no app {name}.")
    return app


def _write(
    *,
    actor: Actor,
    market: Market,
    app: str,
    mutate: Callable[[dict[str, Any] | None], dict[str, Any]],
    action: str,
    target_repr: str,
    detail: dict[str, Any],
) -> IndexChange:
    """Write the index change to storage, then the catalogue and audit record."""
    changed = False

    def apply(doc: dict[str, Any] | None) -> dict[str, Any]:
        nonlocal changed
        new = mutate(doc)
        changed = new != doc
        return new

    try:
        index_bytes = index_update(
            storage=storage_for_market(market), market_name=market.name, name=app, mutate=apply
        )
    except ReadOnlyStorage as exc:
        raise Invalid(str(exc)) from None
    from market.services.sync import catalogue_store_index

    with transaction.atomic():
        catalogue_store_index(market=market, name=app, index_bytes=index_bytes)
        if changed:
            audit_record(
                actor=actor, action=action, target=market, target_repr=target_repr, detail=detail
            )
    return IndexChange(app=app, changed=changed)


def version_yank(
    *, actor: Actor, market: Market, app: str, version: str, reason: str
) -> IndexChange:
    """Mark `app` `version` yanked for `reason`; yanking it again changes the reason."""
    _require_publisher(actor, market)
    try:
        reason = check_yank_reason(reason, what="the reason")
    except MarketDocumentError as exc:
        raise Invalid(f"A yank needs a reason: {exc}.") from None
    return _yanked_set(actor=actor, market=market, app=app, version=version, reason=reason)


def version_unyank(*, actor: Actor, market: Market, app: str, version: str) -> IndexChange:
    """Take a yank back: the version is offered to installs again."""
    _require_publisher(actor, market)
    return _yanked_set(actor=actor, market=market, app=app, version=version, reason="")


def _yanked_set(
    *, actor: Actor, market: Market, app: str, version: str, reason: str
) -> IndexChange:
    """Write `reason` as the version's yank ("" takes it back), audited as a yank or
    an unyank: the one body behind version_yank and version_unyank."""
    if not _app(market, app).versions.filter(version=version).exists():
        raise NotFound(f"{app} has no version {version} in market {market.name}.")

    def mutate(doc: dict[str, Any] | None) -> dict[str, Any]:
        try:
            return index_set_yanked(doc, version=version, reason=reason)
        except KeyError:
            # The catalogue had it, the storage has not: a publisher removed it meanwhile.
            raise NotFound(f"version {version} is not in the market's index any more") from None

    return _write(
        actor=actor,
        market=market,
        app=app,
        mutate=mutate,
        action="version.yank" if reason else "version.unyank",
        target_repr=f"{market.name}/{app}@{version}",
        detail={"app": app, "version": version, **({"reason": reason} if reason else {})},
    )


def advisory_add(
    *, actor: Actor, market: Market, app: str, advisory: dict[str, Any]
) -> AdvisoryChange:
    """Add an advisory to `app`, or replace the one with the same id."""
    _require_publisher(actor, market)
    try:
        checked = check_advisory(advisory)
    except MarketDocumentError as exc:
        raise Invalid(f"{exc}.") from None
    _app(market, app)
    created = True

    def put(doc: dict[str, Any] | None) -> dict[str, Any]:
        # Read in the compare-and-swap: the index as stored says whether the id is new.
        nonlocal created
        created = not any(a.get("id") == checked["id"] for a in (doc or {}).get("advisories") or [])
        return index_put_advisory(doc, advisory=checked)

    change = _write(
        actor=actor,
        market=market,
        app=app,
        mutate=put,
        action="advisory.add",
        target_repr=f"{market.name}/{app} {checked['id']}",
        detail={"app": app, **checked},
    )
    return AdvisoryChange(app=app, changed=change.changed, advisory=checked, created=created)


def advisory_remove(*, actor: Actor, market: Market, app: str, advisory_id: str) -> IndexChange:
    """Withdraw an advisory (e.g. published by mistake); NotFound when there is none."""
    _require_publisher(actor, market)
    found = _app(market, app)
    if not any(a.get("id") == advisory_id for a in found.advisories):
        raise NotFound(f"{app} has no advisory {advisory_id}.")
    return _write(
        actor=actor,
        market=market,
        app=app,
        mutate=lambda doc: index_remove_advisory(doc, advisory_id=advisory_id),
        action="advisory.remove",
        target_repr=f"{market.name}/{app} {advisory_id}",
        detail={"app": app, "id": advisory_id},
    )
