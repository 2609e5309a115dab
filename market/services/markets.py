"""Subscribing to markets and creating new ones."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from django.db import IntegrityError, transaction

from guards.slugs import validate_slug
from market.index import MarketDocumentError, empty_market, parse_market_json
from market.models import Market, SyncJob
from market.services.signing import (
    SigningRefused,
    market_json_create,
    market_sign_init,
    trust_root_parse,
)
from market.storage.base import AlreadyExists, MarketStorage, NotFound, StorageError
from market.storage.factory import open_storage
from market.storage.probe import probe_conditional_writes
from portal.actors import Actor
from portal.crypto import decrypt_json, encrypt_json
from portal.models import Team
from portal.services.audit import audit_record
from search.services.indexing import index_later


class MarketRefused(Exception):
    """The market cannot be added as asked; the message is one line for the user."""


class MarketExists(MarketRefused):
    """A market of that name is already subscribed."""


def storage_for_market(market: Market) -> MarketStorage:
    return open_storage(
        market.location,
        writable=market.writable,
        endpoint_url=market.endpoint_url or None,
        credentials=decrypt_json(market.credentials_encrypted) or None,
        allow_private_network=market.allow_private_network,
    )


def market_init(
    *,
    location: str,
    name: str,
    description: str = "",
    sign_team: Team | None = None,
    threshold: int = 1,
    actor: Actor | None = None,
    **storage_options: Any,
) -> str:
    """Create an empty format-1 market at `location`; refuse if one is there.

    With `sign_team`, a signed market (SPEC 14): root.json version 1 names the
    team's keys (a first one is created if it has none), then market.json is
    written signed by them."""
    validate_slug(name)
    storage = open_storage(location, writable=True, **storage_options)
    try:
        storage.get("market.json")
    except NotFound:
        pass
    else:
        raise MarketRefused(f"a market already exists at {storage.describe()}")
    try:
        if sign_team is not None:
            with transaction.atomic():
                market_sign_init(
                    actor=actor or Actor.system(),
                    storage=storage,
                    team=sign_team,
                    threshold=threshold,
                )
        market_json_create(storage=storage, doc=empty_market(name, description))
    except AlreadyExists:
        raise MarketRefused(f"a market already exists at {storage.describe()}") from None
    except SigningRefused as exc:
        raise MarketRefused(str(exc)) from None
    return storage.describe()


def market_add(
    *,
    actor: Actor,
    name: str,
    location: str,
    writable: bool = False,
    allow_private_network: bool = False,
    endpoint_url: str = "",
    credentials: dict[str, str] | None = None,
    description: str = "",
    is_private: bool = False,
    trust_root: bytes | None = None,
) -> Market:
    """Subscribe to a market.

    1. open the storage, credentials in an http(s) URL moved out of the location;
    2. read market.json through it (the network guard applies unless allowed):
       it must be a format-1 market;
    3. for a writable market, prove the backend enforces create-only and
       if-match writes, refusing it for writing otherwise (SPEC section 3);
    4. with `trust_root` (the bytes of a root.json obtained out of band), pin it:
       every sync then verifies market.json's signatures against it (SPEC 14);
    5. store the row, credentials encrypted, with an audit record;
    6. after commit, queue the first sync.
    """
    from market.services.sync import sync_job_enqueue

    validate_slug(name)
    if Market.objects.filter(name=name).exists():
        raise MarketExists(f"a market named {name} already exists")
    location, credentials = _credentials_out_of_url(location.strip(), credentials)
    try:
        root = trust_root_parse(trust_root) if trust_root is not None else None
    except SigningRefused as exc:
        raise MarketRefused(str(exc)) from None
    try:
        storage = open_storage(
            location,
            writable=writable,
            endpoint_url=endpoint_url or None,
            credentials=credentials or None,
            allow_private_network=allow_private_network,
        )
        _check_is_market(storage)
        if writable:
            result = probe_conditional_writes(storage)
            if not result.ok:
                raise MarketRefused(
                    "refused for writing: the storage does not enforce conditional writes ("
                    + "; ".join(result.reasons)
                    + ")"
                )
    except StorageError as exc:
        raise MarketRefused(str(exc)) from None
    try:
        with transaction.atomic():
            market = Market.objects.create(
                name=name,
                description=description,
                location=location,
                endpoint_url=endpoint_url,
                credentials_encrypted=encrypt_json(credentials) if credentials else "",
                writable=writable,
                allow_private_network=allow_private_network,
                is_private=is_private,
                trust_root=root,
            )
            audit_record(
                actor=actor,
                action="market.add",
                target=market,
                detail={
                    "location": storage.describe(),
                    "writable": writable,
                    "allow_private_network": allow_private_network,
                    "credentials": bool(credentials),
                    "trust_root": (
                        {"version": root["version"], "signers": sorted(root["keys"])}
                        if root
                        else None
                    ),
                },
            )
            sync_job_enqueue(market=market, requested_by=actor.label)
    except IntegrityError:
        # Another request added the same name between the check above and here.
        raise MarketExists(f"a market named {name} already exists") from None
    return market


def _credentials_out_of_url(
    location: str, credentials: dict[str, str] | None
) -> tuple[str, dict[str, str] | None]:
    """Move `user:password@` out of an http(s) location into the credentials, so the
    stored location (listed in the API and the UI) never holds a secret; they are
    kept encrypted with the rest."""
    parts = urlsplit(location)
    if parts.scheme.lower() not in ("http", "https") or parts.username is None:
        return location, credentials
    if credentials:
        raise MarketRefused("give credentials in the URL or separately, not both")
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, {"username": unquote(parts.username), "password": unquote(parts.password or "")}


def _check_is_market(storage: MarketStorage) -> None:
    """Read market.json once: a typo in the location, a network the guard refuses,
    wrong credentials or something that is not a market show now, not at the
    first sync."""
    try:
        blob = storage.get("market.json")
    except NotFound:
        raise MarketRefused(
            f"no market at {storage.describe()}: market.json not found"
            " (market_init creates an empty market)"
        ) from None
    try:
        parse_market_json(blob.data)
    except MarketDocumentError as exc:
        raise MarketRefused(f"not a market at {storage.describe()}: {exc}") from None


def market_remove(*, actor: Actor, market: Market) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="market.remove", target=market)
        SyncJob.objects.filter(market=market).delete()
        index_later("app", market.apps.values_list("pk", flat=True))
        market.delete()
