"""Signed markets (SPEC 14): team keys, root.json, and the one place market.json is written.

Writers: every write of `market.json` goes through :func:`market_json_create` or
:func:`market_json_update`. Each reads the market's `root.json`; when there is one,
the document is signed with the keys of that root this portal holds, with an
`expires` MARKET_SIGNATURE_DAYS ahead. A publish, a yank, a re-sign: none can
forget to sign, and none can write an unsigned market.json over a signed market.

Readers: :func:`market_signature_check` is what a sync runs for a subscription
that pins a root: walk root.json forward from the trusted version, then check
market.json's signatures and expiry against the newest root.

Expiry is refreshed by :func:`market_resign` (the `market_resign` command and the
`market_resign_due_task` beat task), which signs again any market.json, and renews
any root.json, that this portal writes and that expires within MARKET_RESIGN_DAYS.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from market.models import Market, SigningKey
from market.signing import (
    ROOT_KEY,
    PrivateKey,
    SignatureError,
    document_sign,
    expires_in,
    iso,
    key_id,
    market_check_signed,
    parse_iso,
    public_raw,
    root_build,
    root_check_signed,
    root_key_entry,
    root_parse,
    root_update,
    root_version_key,
)
from market.storage.base import AlreadyExists, MarketStorage, NotFound
from market.storage.cas import JsonDoc, dump_json, update_json
from portal.actors import Actor
from portal.crypto import decrypt_json, encrypt_json
from portal.models import Role, Team
from portal.permissions import require_team_role
from portal.services.audit import audit_record

MARKET_KEY = "market.json"
# Attempts per compare-and-swap of index.json and market.json. Eight processes
# publishing into one app on a busy host lost more than update_json's default 10 in
# a row (tests/market/test_publish_concurrency.py). Each jittered wait is at most
# 2 s, so a publisher that keeps losing gives up after about a minute, not never.
CAS_ATTEMPTS = 30


def _now() -> datetime:
    """The clock every expiry check reads (one seam, so tests can move it)."""
    return datetime.now(UTC)


class SigningRefused(Exception):
    """A signing operation that cannot be done as asked; the message is one line."""


# --- keys ------------------------------------------------------------------------------


def signing_key_create(*, actor: Actor, team: Team) -> SigningKey:
    """A new Ed25519 key for `team`, its private half encrypted at rest."""
    if actor.user is not None:
        require_team_role(actor.user, team, Role.ADMIN)
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = public_raw(private)
    with transaction.atomic():
        key = SigningKey.objects.create(
            team=team,
            keyid=key_id(public),
            public=base64.b64encode(public).decode("ascii"),
            private_encrypted=encrypt_json({"ed25519": base64.b64encode(raw).decode("ascii")}),
        )
        audit_record(
            actor=actor,
            action="signing_key.create",
            target=key,
            detail={"team": team.name, "fingerprint": key.keyid},
        )
    return key


def signing_key_retire(*, actor: Actor, key: SigningKey) -> None:
    """Never sign with `key` again (after a rotation took it out of every root)."""
    if actor.user is not None:
        require_team_role(actor.user, key.team, Role.ADMIN)
    with transaction.atomic():
        if SigningKey.objects.filter(pk=key.pk, retired_at__isnull=True).update(
            retired_at=timezone.now()
        ):
            audit_record(actor=actor, action="signing_key.retire", target=key)


def _private(key: SigningKey) -> PrivateKey:
    raw = base64.b64decode(decrypt_json(key.private_encrypted)["ed25519"])
    return PrivateKey(keyid=key.keyid, key=Ed25519PrivateKey.from_private_bytes(raw))


def _held_keys(keyids: Any) -> list[PrivateKey]:
    """The active keys among `keyids` that this portal holds."""
    rows = SigningKey.objects.filter(keyid__in=list(keyids), retired_at__isnull=True)
    return [_private(row) for row in rows.order_by("keyid")]


def _team_active_keys(team: Team) -> list[SigningKey]:
    return list(team.signing_keys.filter(retired_at__isnull=True).order_by("created_at"))


def _key_entries(keys: list[SigningKey]) -> dict[str, dict[str, str]]:
    return {k.keyid: root_key_entry(base64.b64decode(k.public), team=k.team.name) for k in keys}


# --- the one place market.json is written ----------------------------------------------


def _read_root(storage: MarketStorage) -> dict[str, Any] | None:
    try:
        return root_parse(storage.get(ROOT_KEY).data)
    except NotFound:
        return None
    except SignatureError as exc:
        raise SigningRefused(f"the market's {exc}") from None


def market_signing_keys(storage: MarketStorage) -> list[PrivateKey] | None:
    """The keys market.json must be signed with: None for an unsigned market (no
    root.json); for a signed one the root's keys this portal holds, at least
    `threshold` of them, else SigningRefused (an unverifiable market.json would
    lock every subscriber out)."""
    root = _read_root(storage)
    if root is None:
        return None
    keys = _held_keys(root["keys"])
    if len(keys) < root["threshold"]:
        raise SigningRefused(
            f"the market is signed and its root needs {root['threshold']} key(s);"
            f" this portal holds {len(keys)} of them"
        )
    return keys


def _serializer(keys: list[PrivateKey] | None) -> Callable[[JsonDoc], bytes]:
    if keys is None:
        return dump_json

    def signed(doc: JsonDoc) -> bytes:
        expires = expires_in(settings.MARKET_SIGNATURE_DAYS, now=_now())
        return dump_json(document_sign(doc, keys=keys, expires=expires))

    return signed


def market_json_create(*, storage: MarketStorage, doc: JsonDoc) -> None:
    """Write a new market.json (create-only), signed when the market has a root."""
    storage.put_new(MARKET_KEY, _serializer(market_signing_keys(storage))(doc))


def market_json_update(
    *,
    storage: MarketStorage,
    mutate: Callable[[JsonDoc | None], JsonDoc],
    keys: list[PrivateKey] | None = None,
) -> tuple[JsonDoc, str]:
    """Compare-and-swap market.json (update_json), signed when the market has a root.
    `keys` overrides the root's keys (a rotation signs with old and new at once)."""
    signer = keys if keys is not None else market_signing_keys(storage)
    return update_json(
        storage, MARKET_KEY, mutate, attempts=CAS_ATTEMPTS, serialize=_serializer(signer)
    )


def _bump(doc: JsonDoc | None) -> JsonDoc:
    """market.json with its serial raised: a re-signed document is a new document,
    so a subscriber never takes an older signature back."""
    from market.index import now_iso

    if doc is None:
        raise SigningRefused("the market has no market.json")
    return {**doc, "serial": int(doc.get("serial", 0)) + 1, "generated": now_iso()}


# --- creating, rotating, renewing roots -----------------------------------------------


def market_sign_init(
    *, actor: Actor, storage: MarketStorage, team: Team, threshold: int = 1
) -> dict:
    """Make the (new, empty) market at `storage` a signed one: root.json version 1
    naming `team`'s active keys (a first key is created when it has none)."""
    keys = _team_active_keys(team) or [signing_key_create(actor=actor, team=team)]
    if not 1 <= threshold <= len(keys):
        raise SigningRefused(f"threshold must be between 1 and {len(keys)} (the team's keys)")
    root = root_build(
        version=1,
        keys=_key_entries(keys),
        threshold=threshold,
        expires=expires_in(settings.MARKET_ROOT_DAYS, now=_now()),
        signers=[_private(k) for k in keys],
    )
    data = dump_json(root)
    try:
        storage.put_new(ROOT_KEY, data)
    except AlreadyExists:
        raise SigningRefused(f"a root.json already exists at {storage.describe()}") from None
    storage.put_new(root_version_key(1), data)
    audit_record(
        actor=actor,
        action="market.sign_init",
        target=team,
        detail={
            "location": storage.describe(),
            "keyids": sorted(root["keys"]),
            "threshold": threshold,
        },
    )
    return root


def market_root_rotate(
    *,
    actor: Actor,
    market: Market,
    keyids: list[str] | None = None,
    threshold: int | None = None,
    retire_dropped: bool = False,
) -> dict:
    """Publish root.json version N+1 naming `keyids` (default: the same keys, which
    renews its expiry), and sign market.json with them.

    1. read root.json N; this portal must hold `threshold` of its keys and
       `threshold` of the new ones, each active (a root the old keys did not sign
       is refused by every subscriber);
    2. sign market.json with old and new keys at once, so a subscriber that sees
       the new root before the next step still finds enough signatures;
    3. write roots/<N+1>.json create-only (a second rotation racing this one
       loses here), then root.json compare-and-swap on what step 1 read;
    4. sign market.json again with the new keys only;
    5. with `retire_dropped`, retire the keys of version N the new root drops.
    """
    from market.services.markets import storage_for_market

    if actor.user is not None:
        from market.services.publish import can_publish

        if not can_publish(actor.user, market):
            raise PermissionDenied(f"you may not sign {market.name}")
    storage = storage_for_market(market)
    try:
        blob = storage.get(ROOT_KEY)
    except NotFound:
        raise SigningRefused(f"market {market.name} is not signed (no root.json)") from None
    try:
        old = root_parse(blob.data)
    except SignatureError as exc:
        raise SigningRefused(f"the market's {exc}") from None
    old_keys = _held_keys(old["keys"])
    if len(old_keys) < old["threshold"]:
        raise SigningRefused(
            f"rotating root.json version {old['version']} needs {old['threshold']} of its"
            f" keys; this portal holds {len(old_keys)}"
        )
    wanted = list(dict.fromkeys(keyids or old["keys"]))
    rows = list(
        SigningKey.objects.filter(keyid__in=wanted, retired_at__isnull=True).select_related("team")
    )
    missing = sorted(set(wanted) - {k.keyid for k in rows})
    if missing:
        raise SigningRefused(
            "unknown or retired key(s): " + ", ".join(keyid[:12] for keyid in missing)
        )
    threshold = threshold or min(old["threshold"], len(rows))
    if not 1 <= threshold <= len(rows):
        raise SigningRefused(f"threshold must be between 1 and {len(rows)} (the new keys)")
    new_keys = [_private(k) for k in rows]
    new = root_build(
        version=old["version"] + 1,
        keys=_key_entries(rows),
        threshold=threshold,
        expires=expires_in(settings.MARKET_ROOT_DAYS, now=_now()),
        signers=list({k.keyid: k for k in old_keys + new_keys}.values()),
    )
    root_check_signed(new, previous=old)  # what every subscriber will check

    both = list({k.keyid: k for k in old_keys + new_keys}.values())
    market_json_update(storage=storage, mutate=_bump, keys=both)
    data = dump_json(new)
    try:
        storage.put_new(root_version_key(new["version"]), data)
    except AlreadyExists:
        raise SigningRefused(
            f"root.json version {new['version']} was written meanwhile by another rotation"
        ) from None
    storage.put_if_match(ROOT_KEY, data, blob.etag)
    market_json_update(storage=storage, mutate=_bump, keys=new_keys)
    audit_record(
        actor=actor,
        action="market.root_rotate",
        target=market,
        detail={
            "version": new["version"],
            # Key ids under names the audit log's secret mask leaves alone.
            "signers": sorted(new["keys"]),
            "threshold": threshold,
            "previous_signers": sorted(old["keys"]),
        },
    )
    if retire_dropped:
        dropped = set(old["keys"]) - set(new["keys"])
        for key in SigningKey.objects.filter(keyid__in=dropped, retired_at__isnull=True):
            signing_key_retire(actor=actor, key=key)
    return new


def market_resign(*, actor: Actor, market: Market, force: bool = False) -> list[str]:
    """Sign a writable signed market again before it expires; returns what was
    renewed ("root.json", "market.json"), empty when nothing was due."""
    from market.services.markets import storage_for_market

    storage = storage_for_market(market)
    root = _read_root(storage)
    if root is None:
        return []
    due = _now() + timedelta(days=settings.MARKET_RESIGN_DAYS)
    renewed: list[str] = []
    if force or parse_iso(root["expires"], what="root.json") <= due:
        market_root_rotate(actor=actor, market=market)
        renewed += ["root.json", "market.json"]
    else:

        def resign_if_due(doc: JsonDoc | None) -> JsonDoc:
            # Re-checked on every attempt: of several portals re-signing one
            # market, only the first writes; the others find it fresh.
            if (
                doc is not None
                and not force
                and "expires" in doc
                and parse_iso(doc["expires"], what="market.json") > due
            ):
                return doc
            return _bump(doc)

        before = storage.get(MARKET_KEY).etag
        _, after = market_json_update(storage=storage, mutate=resign_if_due)
        if after != before:
            renewed.append("market.json")
    if renewed:
        audit_record(
            actor=actor, action="market.resign", target=market, detail={"renewed": renewed}
        )
    return renewed


def markets_resign_due(*, actor: Actor) -> dict[str, list[str]]:
    """Re-sign every writable market of this portal that is due (the beat task)."""
    done: dict[str, list[str]] = {}
    for market in Market.objects.filter(writable=True):
        try:
            renewed = market_resign(actor=actor, market=market)
        except Exception as exc:  # one broken market must not stop the others
            import logging

            logging.getLogger(__name__).warning("re-signing market %s failed: %s", market, exc)
            continue
        if renewed:
            done[market.name] = renewed
    return done


# --- verifying, for subscribers --------------------------------------------------------


def trust_root_parse(data: bytes) -> dict[str, Any]:
    """A root.json given to pin a subscription: its shape, and its own signatures."""
    try:
        root = root_parse(data)
        root_check_signed(root, previous=None)
    except SignatureError as exc:
        raise SigningRefused(f"trust root: {exc}") from None
    return root


def _signers(keyids: list[str], root: dict[str, Any] | None) -> list[dict[str, str]]:
    """Who signed: the team a verified key belongs to (the root's label, else the local
    key's team). Claimed, unchecked signatures get no team: a name would vouch for them."""
    if root is None:
        return [{"keyid": keyid, "team": ""} for keyid in keyids]
    local = dict(SigningKey.objects.filter(keyid__in=keyids).values_list("keyid", "team__name"))
    signers = []
    for keyid in keyids:
        entry = root["keys"].get(keyid) or {}
        team = str(entry.get("team") or local.get(keyid) or "")[:63]
        signers.append({"keyid": keyid, "team": team})
    return signers


def market_signature_check(
    *, market: Market, storage: MarketStorage, doc: JsonDoc, now: datetime | None = None
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(trusted root, signature summary) for a market.json a sync just read.

    Pinned: walk root.json forward from the trusted root and check market.json
    against the newest (SignatureError on any failure). Not pinned: nothing is
    checked; the summary says whether the document claims signatures."""
    now = now or _now()
    if market.trust_root is None:
        claimed = doc.get("signatures")
        if not isinstance(claimed, list) or not claimed:
            return None, {}
        keyids = [str(s.get("keyid"))[:64] for s in claimed if isinstance(s, dict)]
        return None, {"verified": False, "signers": _signers(keyids, None), "expires": ""}

    def fetch(key: str) -> bytes:
        try:
            return storage.get(key).data
        except NotFound:
            raise SignatureError(f"{key} not found: the market is not signed") from None

    root = root_update(market.trust_root, fetch=fetch, now=now)
    keyids, expires = market_check_signed(doc, root=root, now=now)
    return root, {"verified": True, "signers": _signers(keyids, root), "expires": iso(expires)}


def market_signature_fresh(*, market: Market, now: datetime | None = None) -> None:
    """An unchanged market.json (304) of a pinned subscription must still be in date:
    a mirror that keeps answering "not modified" must not freeze the market."""
    if market.trust_root is None or not market.signature.get("expires"):
        return
    expires = parse_iso(market.signature["expires"], what="market.json")
    if expires <= (now or _now()):
        raise SignatureError(
            f"market.json expired on {iso(expires)}: the market is frozen or its publisher"
            " stopped re-signing it"
        )
