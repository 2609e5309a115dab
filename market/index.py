"""The format-1 market documents (SPEC section 3), as pure functions.

`market.json` entries are derived wholly from the app's stored `index.json`, so
whoever writes `market.json` last, after re-reading the index, leaves it right:
see `market_apply_index` and the ordering rule in `market.services.publish`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from guards.slugs import is_slug
from market.semver import InvalidVersion, parse_version

FORMAT = 1
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class MarketDocumentError(ValueError):
    """A market document that breaks format 1."""


class IndexDigestMismatch(MarketDocumentError):
    """An index.json whose bytes are not the ones market.json names."""


class VersionConflict(Exception):
    """The version exists with another digest: versions are immutable."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def archive_key(name: str, version: str) -> str:
    return f"apps/{name}/{name}-{version}.tgz"


def index_key(name: str) -> str:
    return f"apps/{name}/index.json"


def empty_market(name: str, description: str = "") -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": name,
        "description": description,
        "serial": 0,
        "generated": now_iso(),
        "apps": {},
    }


def index_add_version(
    index: dict[str, Any] | None,
    *,
    name: str,
    version: str,
    digest: str,
    size: int,
    publisher: str,
    manifest: dict[str, Any],
    published: str | None = None,
) -> dict[str, Any]:
    """Return the index with `version` added. The same version with the same
    digest returns the index unchanged; with another digest, VersionConflict."""
    doc = dict(index) if index else {"format": FORMAT, "name": name, "versions": {}}
    versions = dict(doc.get("versions") or {})
    existing = versions.get(version)
    if existing is not None:
        if existing.get("digest") == digest:
            return doc
        raise VersionConflict(
            f"{name} {version} is already published with digest {existing.get('digest')}"
        )
    versions[version] = {
        "archive": f"{name}-{version}.tgz",
        "digest": digest,
        "size": size,
        "published": published or now_iso(),
        "publisher": publisher,
        "manifest": manifest,
    }
    doc["versions"] = versions
    return doc


def latest_version(versions: list[str]) -> str:
    """Highest release by SemVer precedence; a prerelease only when nothing else exists."""
    parsed = []
    for raw in versions:
        try:
            parsed.append(parse_version(raw))
        except InvalidVersion:
            continue
    if not parsed:
        raise MarketDocumentError("no valid version")
    releases = [v for v in parsed if not v.prerelease]
    return str(max(releases or parsed))


def market_entry(index: dict[str, Any], index_bytes: bytes) -> dict[str, Any]:
    """The market.json entry that describes this stored index."""
    versions = list(index["versions"])
    latest = latest_version(versions)
    manifest = index["versions"][latest].get("manifest") or {}
    updated = max(str(v.get("published", "")) for v in index["versions"].values())
    return {
        "latest": latest,
        "title": manifest.get("title", index["name"]),
        "summary": manifest.get("summary", ""),
        "category": manifest.get("category", ""),
        "keywords": list(manifest.get("keywords") or []),
        "versions": sorted(versions, key=parse_version),
        "updated": updated,
        "index_digest": sha256_hex(index_bytes),
    }


def market_apply_index(
    market: dict[str, Any] | None, *, name: str, entry: dict[str, Any] | None, market_name: str
) -> dict[str, Any]:
    """Return market.json with app `name` set to `entry` (or removed when None),
    the serial raised by one. Unchanged input gives an unchanged document."""
    doc = dict(market) if market else empty_market(market_name)
    apps = dict(doc.get("apps") or {})
    if apps.get(name) == entry:
        return doc
    if entry is None:
        apps.pop(name, None)
    else:
        apps[name] = entry
    doc["apps"] = apps
    doc["serial"] = int(doc.get("serial", 0)) + 1
    doc["generated"] = now_iso()
    return doc


# --- reading documents from untrusted markets --------------------------------


def parse_market_json(data: bytes) -> dict[str, Any]:
    """Validate the shape of a remote market.json; raise MarketDocumentError with one line."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MarketDocumentError(f"market.json is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MarketDocumentError("market.json is not a format-1 market document")
    serial = doc.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise MarketDocumentError("market.json serial must be a non-negative integer")
    if not isinstance(doc.get("apps"), dict):
        raise MarketDocumentError("market.json apps must be an object")
    return doc


def check_market_entry(name: str, entry: Any) -> None:
    if not is_slug(name):
        raise MarketDocumentError(f"app name {name!r} is not a valid name")
    if not isinstance(entry, dict):
        raise MarketDocumentError(f"{name}: entry is not an object")
    digest = entry.get("index_digest")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise MarketDocumentError(f"{name}: index_digest is not a sha256 hex digest")


def parse_index_json(name: str, data: bytes, expected_digest: str) -> dict[str, Any]:
    """Validate a remote index.json against the digest market.json promised."""
    if sha256_hex(data) != expected_digest:
        raise IndexDigestMismatch(f"{name}: index.json does not match its index_digest")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise MarketDocumentError(f"{name}: index.json is not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("name") != name:
        raise MarketDocumentError(f"{name}: index.json is not a format-1 index of this app")
    versions = doc.get("versions")
    if not isinstance(versions, dict) or not versions:
        raise MarketDocumentError(f"{name}: index.json has no versions")
    return doc


def check_version_entry(name: str, version: str, entry: Any) -> None:
    try:
        parse_version(version)
    except InvalidVersion as exc:
        raise MarketDocumentError(f"{name} {version!r}: {exc}") from None
    if not isinstance(entry, dict):
        raise MarketDocumentError(f"{name} {version}: entry is not an object")
    if entry.get("archive") != f"{name}-{version}.tgz":
        raise MarketDocumentError(f"{name} {version}: archive name must be {name}-{version}.tgz")
    if not isinstance(entry.get("digest"), str) or not DIGEST_RE.fullmatch(entry["digest"]):
        raise MarketDocumentError(f"{name} {version}: digest must be sha256:<hex>")
    size = entry.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise MarketDocumentError(f"{name} {version}: size must be a positive integer")
    manifest = entry.get("manifest")
    if not isinstance(manifest, dict) or manifest.get("name") != name:
        raise MarketDocumentError(f"{name} {version}: manifest missing or names another app")
    if manifest.get("version") != version:
        raise MarketDocumentError(
            f"{name} {version}: manifest names version {manifest.get('version')!r}"
        )


# --- yanked versions and advisories (SPEC 14) ------------------------------------------

ADVISORY_SEVERITIES = ("low", "moderate", "high", "critical")
ADVISORY_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}", re.ASCII)
# Reasons and summaries are shown on pages and in search: bounded, one paragraph.
MAX_YANK_REASON = 500
MAX_ADVISORY_SUMMARY = 500
MAX_ADVISORIES = 100


def _plain_text(value: Any, *, what: str, limit: int) -> str:
    """A non-empty string of at most `limit` characters without control characters."""
    if not isinstance(value, str):
        raise MarketDocumentError(f"{what} must be a string")
    text = value.strip()
    if not text:
        raise MarketDocumentError(f"{what} is empty")
    if len(text) > limit:
        raise MarketDocumentError(f"{what} is longer than {limit} characters")
    if any(not ch.isprintable() for ch in text):
        raise MarketDocumentError(f"{what} holds control characters")
    return text


def check_yank_reason(reason: Any, *, what: str = "yank reason") -> str:
    """The reason a version is yanked, checked; MarketDocumentError says why not."""
    return _plain_text(reason, what=what, limit=MAX_YANK_REASON)


def check_advisory(advisory: Any, *, what: str = "advisory") -> dict[str, str]:
    """One advisory, checked and normalised to {id, severity, affected, fixed, summary}
    (``fixed`` "" when no release fixes it yet)."""
    from market.semver import InvalidRange, InvalidVersion, parse_range, parse_version

    if not isinstance(advisory, dict):
        raise MarketDocumentError(f"{what} is not an object")
    ident = advisory.get("id")
    if not isinstance(ident, str) or not ADVISORY_ID_RE.fullmatch(ident):
        raise MarketDocumentError(
            f"{what}: id must be 1-100 letters, digits and . _ : - (e.g. OMSA-2026-001)"
        )
    what = f"advisory {ident}"
    severity = advisory.get("severity")
    if severity not in ADVISORY_SEVERITIES:
        raise MarketDocumentError(
            f"{what}: severity must be one of {', '.join(ADVISORY_SEVERITIES)}"
        )
    affected = advisory.get("affected")
    try:
        parse_range(affected if isinstance(affected, str) else "")
    except InvalidRange as exc:
        raise MarketDocumentError(f"{what}: affected: {exc}") from None
    fixed = advisory.get("fixed") or ""
    if fixed:
        try:
            parse_version(fixed)
        except InvalidVersion as exc:
            raise MarketDocumentError(f"{what}: fixed: {exc}") from None
    summary = _plain_text(
        advisory.get("summary"), what=f"{what}: summary", limit=MAX_ADVISORY_SUMMARY
    )
    return {
        "id": ident,
        "severity": str(severity),
        "affected": str(affected).strip(),
        "fixed": str(fixed),
        "summary": summary,
    }


def check_advisories(name: str, advisories: Any) -> list[dict[str, str]]:
    """An index's advisories list, checked (a missing one is an empty list)."""
    if advisories is None:
        return []
    if not isinstance(advisories, list):
        raise MarketDocumentError(f"{name}: advisories must be a list")
    if len(advisories) > MAX_ADVISORIES:
        raise MarketDocumentError(f"{name}: more than {MAX_ADVISORIES} advisories")
    checked = [check_advisory(a, what=f"{name}: advisory") for a in advisories]
    ids = [a["id"] for a in checked]
    if len(set(ids)) != len(ids):
        raise MarketDocumentError(f"{name}: an advisory id repeats")
    return checked


def index_set_yanked(index: dict[str, Any] | None, *, version: str, reason: str) -> dict[str, Any]:
    """The index with `version` yanked for `reason` ("" takes the yank back).
    Unchanged input gives an equal document; an unknown version raises KeyError."""
    doc = dict(index or {})
    versions = dict(doc.get("versions") or {})
    if version not in versions:
        raise KeyError(version)
    entry = dict(versions[version])
    if reason:
        entry["yanked"] = reason
    else:
        entry.pop("yanked", None)
    versions[version] = entry
    doc["versions"] = versions
    return doc


def index_put_advisory(index: dict[str, Any] | None, *, advisory: dict[str, str]) -> dict[str, Any]:
    """The index with `advisory` added, or replacing the one with its id."""
    doc = dict(index or {})
    kept = [a for a in doc.get("advisories") or [] if a.get("id") != advisory["id"]]
    doc["advisories"] = [*kept, advisory]
    return doc


def index_remove_advisory(index: dict[str, Any] | None, *, advisory_id: str) -> dict[str, Any]:
    doc = dict(index or {})
    kept = [a for a in doc.get("advisories") or [] if a.get("id") != advisory_id]
    if kept:
        doc["advisories"] = kept
    else:
        doc.pop("advisories", None)
    return doc
