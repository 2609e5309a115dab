"""Signed market documents (SPEC section 14), as pure functions: no database, no storage.

A signed market has a `root.json` naming its signing keys and how many of them
(`threshold`) must sign, and a `market.json` carrying `expires` and `signatures`.
Each root version is kept at `roots/<version>.json` too, so a subscriber that pinned
version 1 can walk every version after it, each one accepted only when `threshold`
keys of the version before it signed it (and `threshold` of its own keys, so a
root nobody can use is never published).

Since `market.json` names each index digest and each index names each archive
digest, one signature over `market.json` covers every byte of the market.

The signed bytes are :func:`canonical_json` of the document without its
`signatures` member: the one serialisation every signer and verifier uses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FORMAT = 1
ROOT_KEY = "root.json"
MAX_ROOT_BYTES = 256 * 1024


def root_version_key(version: int) -> str:
    return f"roots/{version}.json"


class SignatureError(ValueError):
    """A signed document that must not be accepted; the message is one line."""


def canonical_json(doc: Any) -> bytes:
    """SPEC 14's canonical form: keys sorted, no whitespace, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def signed_bytes(doc: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in doc.items() if k != "signatures"})


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public: bytes) -> str:
    """SPEC 14: the sha256 hex of the raw public key."""
    return hashlib.sha256(public).hexdigest()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(raw: Any, *, what: str) -> datetime:
    if not isinstance(raw, str):
        raise SignatureError(f"{what} has no expires date")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SignatureError(f"{what} expires is not an ISO 8601 date") from None
    if moment.tzinfo is None:
        raise SignatureError(f"{what} expires has no time zone")
    return moment


@dataclass(frozen=True)
class PrivateKey:
    """One signing key in memory: its id and its private half."""

    keyid: str
    key: Ed25519PrivateKey


def document_sign(doc: dict[str, Any], *, keys: list[PrivateKey], expires: datetime) -> dict:
    """Return `doc` with `expires` set and one signature per key (old signatures dropped:
    they signed other bytes)."""
    signed = {k: v for k, v in doc.items() if k != "signatures"}
    signed["expires"] = iso(expires)
    payload = canonical_json(signed)
    signed["signatures"] = [
        {"keyid": k.keyid, "sig": base64.b64encode(k.key.sign(payload)).decode("ascii")}
        for k in sorted(keys, key=lambda k: k.keyid)
    ]
    return signed


def signatures_check(
    doc: dict[str, Any], *, keys: dict[str, Any], threshold: int, what: str
) -> list[str]:
    """The keyids (of `keys`) whose signature over `doc` is valid; SignatureError when
    fewer than `threshold`. A key counts once however many times it appears."""
    signatures = doc.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise SignatureError(f"{what} is not signed")
    payload = signed_bytes(doc)
    valid: list[str] = []
    for entry in signatures:
        if not isinstance(entry, dict):
            continue
        keyid, sig = entry.get("keyid"), entry.get("sig")
        if keyid in valid or not isinstance(keyid, str) or keyid not in keys:
            continue
        try:
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(keys[keyid]["public"]))
            public.verify(base64.b64decode(str(sig), validate=True), payload)
        except (InvalidSignature, ValueError, binascii.Error, TypeError):
            continue
        valid.append(keyid)
    if len(valid) < threshold:
        raise SignatureError(
            f"{what} carries {len(valid)} valid signature(s) of the trusted keys;"
            f" {threshold} needed"
        )
    return valid


# --- root.json ---------------------------------------------------------------------


def root_build(
    *,
    version: int,
    keys: dict[str, dict[str, str]],
    threshold: int,
    expires: datetime,
    signers: list[PrivateKey],
) -> dict[str, Any]:
    """A root document signed by `signers` (the new keys, plus on rotation the old)."""
    doc = {"format": FORMAT, "version": version, "threshold": threshold, "keys": keys}
    return document_sign(doc, keys=signers, expires=expires)


def root_key_entry(public: bytes, *, team: str = "") -> dict[str, str]:
    """A `keys` entry. `team` is a label beyond SPEC 14's shape, signed with the rest
    of the root, so a subscriber can show whose key signed."""
    entry = {"type": "ed25519", "public": base64.b64encode(public).decode("ascii")}
    if team:
        entry["team"] = team
    return entry


def root_parse(data: bytes | dict[str, Any], *, what: str = "root.json") -> dict[str, Any]:
    """Check the shape of a root document (not its signatures)."""
    if isinstance(data, bytes):
        if len(data) > MAX_ROOT_BYTES:
            raise SignatureError(f"{what} is larger than {MAX_ROOT_BYTES} bytes")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise SignatureError(f"{what} is not valid JSON") from None
    else:
        doc = data
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SignatureError(f"{what} is not a format-1 root document")
    version, threshold, keys = doc.get("version"), doc.get("threshold"), doc.get("keys")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SignatureError(f"{what} version must be a positive integer")
    if not isinstance(keys, dict) or not keys:
        raise SignatureError(f"{what} names no keys")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise SignatureError(f"{what} threshold must be a positive integer")
    if threshold > len(keys):
        raise SignatureError(f"{what} threshold {threshold} is more than its {len(keys)} keys")
    for keyid, entry in keys.items():
        if not isinstance(entry, dict) or entry.get("type") != "ed25519":
            raise SignatureError(f"{what} key {str(keyid)[:16]} is not an ed25519 key")
        try:
            raw = base64.b64decode(str(entry.get("public")), validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError(f"{what} key {str(keyid)[:16]} is not base64") from None
        if len(raw) != 32 or key_id(raw) != keyid:
            raise SignatureError(f"{what} key {str(keyid)[:16]} does not match its keyid")
    parse_iso(doc.get("expires"), what=what)
    return doc


def root_check_signed(root: dict[str, Any], *, previous: dict[str, Any] | None) -> None:
    """A root version is signed by threshold of its own keys and, after version 1,
    by threshold of the keys of the version before it."""
    what = f"root.json version {root['version']}"
    signatures_check(
        root, keys=root["keys"], threshold=root["threshold"], what=what + " (own keys)"
    )
    if previous is not None:
        signatures_check(
            root,
            keys=previous["keys"],
            threshold=previous["threshold"],
            what=f"{what} (keys of version {previous['version']})",
        )


def root_update(
    trusted: dict[str, Any], *, fetch: Callable[[str], bytes], now: datetime
) -> dict[str, Any]:
    """The newest root reachable from `trusted`, each step verified.

    1. read `root.json`; a version lower than the trusted one is a rollback;
    2. the same version: the trusted document stays (whatever was served);
    3. a higher one: read `roots/<n>.json` for each version in between (the last
       is the served root.json itself), each signed by threshold keys of the one
       before it and of its own, its version the one expected;
    4. the newest root must not have expired.
    """
    served = root_parse(fetch(ROOT_KEY))
    current = trusted
    if served["version"] < trusted["version"]:
        raise SignatureError(
            f"root.json version {served['version']} is older than version"
            f" {trusted['version']} already trusted"
        )
    for version in range(trusted["version"] + 1, served["version"] + 1):
        step = (
            served
            if version == served["version"]
            else root_parse(fetch(root_version_key(version)), what=root_version_key(version))
        )
        if step["version"] != version:
            raise SignatureError(f"{root_version_key(version)} is version {step['version']}")
        root_check_signed(step, previous=current)
        current = step
    expires = parse_iso(current.get("expires"), what="root.json")
    if expires <= now:
        raise SignatureError(f"root.json version {current['version']} expired on {iso(expires)}")
    return current


def market_check_signed(
    doc: dict[str, Any], *, root: dict[str, Any], now: datetime
) -> tuple[list[str], datetime]:
    """(keyids that signed, expiry) of a market.json signed by threshold keys of
    `root` and not expired; SignatureError otherwise."""
    keyids = signatures_check(
        doc, keys=root["keys"], threshold=root["threshold"], what="market.json"
    )
    expires = parse_iso(doc.get("expires"), what="market.json")
    if expires <= now:
        raise SignatureError(
            f"market.json expired on {iso(expires)}: the market is frozen or its publisher"
            " stopped re-signing it"
        )
    return keyids, expires


def expires_in(days: int, *, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) + timedelta(days=days)
