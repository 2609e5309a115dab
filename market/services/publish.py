"""Publishing a package into a writable market (SPEC section 3).

Order of writes, so that readers never see a half-finished publish and any
number of publishers lose nothing:

1. the archive, create-only: until an index names it, no reader looks for it;
2. `apps/<name>/index.json`, compare-and-swap;
3. `market.json`, compare-and-swap, re-reading the index inside each attempt
   (`market.services.signing.market_json_update`, which signs it when the
   market has a root.json).

Step 3 re-reads the index *after* reading market.json. A publisher whose index
write lands between another's two reads makes that other's market.json write
fail its precondition and retry with the newer index, so the last market.json
written always describes the newest index. A retried publish of the same
archive finds steps 1-2 done and still runs step 3, which repairs a publish
that died between steps.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from market.index import (
    VersionConflict,
    archive_key,
    index_add_version,
    index_key,
    market_apply_index,
    market_entry,
)
from market.models import Market
from market.package import read_package
from market.package.render import check_render_limits
from market.services.markets import storage_for_market
from market.services.signing import CAS_ATTEMPTS, market_json_update
from market.storage.base import AlreadyExists, MarketStorage, NotFound, ReadOnlyStorage
from market.storage.cas import load_json, update_json
from portal.actors import Actor
from portal.models import Role
from portal.permissions import is_staff, teams_with_role
from portal.services.audit import audit_record


@dataclass(frozen=True)
class PublishResult:
    name: str
    version: str
    digest: str
    size: int
    created: bool  # False when the same archive was already published
    # The app's index.json as market.json now describes it, for the catalogue.
    index_bytes: bytes = b""


def can_publish(user: Any, market: Market) -> bool:
    if not market.writable or not user.is_authenticated:
        return False
    if is_staff(user):
        return True
    return market.publishers.filter(
        pk__in=teams_with_role(user, Role.OPERATOR).values("pk")
    ).exists()


def _stored_digest(storage: MarketStorage, key: str) -> str:
    return "sha256:" + hashlib.sha256(storage.get(key).data).hexdigest()


def index_update(
    *,
    storage: MarketStorage,
    market_name: str,
    name: str,
    mutate: Callable[[dict[str, Any] | None], dict[str, Any]],
) -> bytes:
    """Steps 2 and 3 of the module docstring for one app: compare-and-swap its
    index.json with `mutate`, then market.json (signed when the market is) from the
    index as stored. Publish, yank and advisories all write through here.
    Returns the index.json bytes market.json now names."""
    update_json(storage, index_key(name), mutate, attempts=CAS_ATTEMPTS)

    index_bytes = b""

    def apply(doc: dict[str, Any] | None) -> dict[str, Any]:
        nonlocal index_bytes
        blob = storage.get(index_key(name))
        index_bytes = blob.data
        return market_apply_index(
            doc,
            name=name,
            entry=market_entry(json.loads(blob.data), blob.data),
            market_name=market_name,
        )

    market_json_update(storage=storage, mutate=apply)
    return index_bytes


def publish_to_storage(
    *,
    storage: MarketStorage,
    market_name: str,
    data: bytes,
    filename: str | None = None,
    publisher: str,
) -> PublishResult:
    """Validate one archive and write it into the market at `storage`, in the order
    the module docstring gives (archive, index.json, market.json). Touches the
    database only to read signing keys when the market is signed: `package_publish`
    adds permissions, the audit record and the sync.
    Raises PackageRefused, VersionConflict, StorageError."""
    package = read_package(data, filename=filename)
    # Publishing only: reading a package (at every install and sync) compiles its
    # templates, which is cheap and bounded; rendering them is neither.
    check_render_limits(package)
    name, version = package.manifest.name, package.manifest.version
    digest, size = package.digest, package.size

    # Refuse a conflicting version before writing anything.
    try:
        current_index = load_json(storage.get(index_key(name)).data, key=index_key(name))
    except NotFound:
        current_index = {}
    versions = current_index.get("versions")
    if not isinstance(versions, dict):
        versions = {}
    existing = versions.get(version)
    if existing is not None and existing.get("digest") != digest:
        raise VersionConflict(f"{name} {version} is already published with other content")

    created = existing is None
    try:
        storage.put_new(archive_key(name, version), data, content_type="application/gzip")
    except AlreadyExists:
        if _stored_digest(storage, archive_key(name, version)) != digest:
            raise VersionConflict(
                f"{name} {version} is already published with other content"
            ) from None
        created = False

    manifest = package.manifest_data

    index_bytes = index_update(
        storage=storage,
        market_name=market_name,
        name=name,
        mutate=lambda doc: index_add_version(
            doc,
            name=name,
            version=version,
            digest=digest,
            size=size,
            publisher=publisher,
            manifest=manifest,
        ),
    )
    return PublishResult(
        name=name,
        version=version,
        digest=digest,
        size=size,
        created=created,
        index_bytes=index_bytes,
    )


def package_publish(
    *, actor: Actor, market: Market, data: bytes, filename: str | None = None
) -> PublishResult:
    """Validate and publish one archive. Raises PackageRefused (bad package),
    VersionConflict (same version, other content), PermissionDenied, StorageError.

    After the storage writes, one transaction stores the app's new index in the
    catalogue (so the version can be installed as soon as this returns, not after
    the next sync), writes the audit record and queues a sync for the details."""
    if not market.writable:
        raise ReadOnlyStorage(f"market {market.name} is read-only")
    if actor.user is not None and not can_publish(actor.user, market):
        raise PermissionDenied(f"you may not publish to {market.name}")
    result = publish_to_storage(
        storage=storage_for_market(market),
        market_name=market.name,
        data=data,
        filename=filename,
        publisher=actor.label,
    )

    from market.services.sync import catalogue_store_index, sync_job_enqueue

    with transaction.atomic():
        catalogue_store_index(market=market, name=result.name, index_bytes=result.index_bytes)
        audit_record(
            actor=actor,
            action="package.publish",
            target=market,
            target_repr=f"{market.name}/{result.name}@{result.version}",
            detail={
                "app": result.name,
                "version": result.version,
                "digest": result.digest,
                "created": result.created,
            },
        )
        sync_job_enqueue(market=market, requested_by=actor.label)
    return result


__all__ = [
    "PublishResult",
    "VersionConflict",
    "can_publish",
    "package_publish",
    "publish_to_storage",
]
