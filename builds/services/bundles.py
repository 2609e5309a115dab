"""Offline bundles: a set of apps and their whole dependency closure, written as a
format-1 market (SPEC section 3) in one gzip tar, and registered on the far side
of an air gap as a local market.

Layout of the tar, at its top: ``market.json``, ``apps/<name>/index.json`` and
``apps/<name>/<name>-<version>.tgz`` -- extract it anywhere and that folder is a
market (``market_add NAME /path/extracted``). Every archive is listed in its
index.json with size and sha256, which the importer checks before registering.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from builds.sources import extract_archive
from guards.slugs import validate_slug
from market.index import (
    MarketDocumentError,
    archive_key,
    check_market_entry,
    check_version_entry,
    empty_market,
    index_add_version,
    index_key,
    index_set_yanked,
    market_apply_index,
    market_entry,
    parse_index_json,
    parse_market_json,
)
from market.models import AppVersion, Market
from market.package import Limits, PackageRefused
from market.semver import InvalidRange, max_satisfying, parse_range
from market.services.fetch import package_fetch
from market.services.markets import MarketRefused, market_add
from market.services.sync import market_sync
from market.storage.cas import dump_json
from portal.actors import Actor
from portal.permissions import is_staff
from portal.services.audit import audit_record
from portal.services.errors import AlreadyExists, Forbidden, Invalid


@dataclass(frozen=True)
class BundleResult:
    path: Path
    digest: str
    size: int
    versions: list[tuple[str, str]]  # (app, version), requested first, then dependencies


def _split_request(item: str) -> tuple[str, str | None]:
    name, _, wanted = item.partition("@")
    return name.strip(), (wanted.strip() or None)


def bundle_resolve(*, market: Market, requests: list[str]) -> list[AppVersion]:
    """The versions to export: for each ``APP[@RANGE]`` the highest version in range
    (the latest without one), then the dependencies of each chosen version, at the
    highest version that satisfies their range, and theirs in turn. One version per
    app, as an install puts one of each into a namespace. Raises Invalid naming the
    app and range when something cannot be resolved."""
    rows: dict[str, list[AppVersion]] = {}
    latest: dict[str, str] = {}
    for row in AppVersion.objects.filter(app__market=market).select_related("app"):
        rows.setdefault(row.app.name, []).append(row)
        latest[row.app.name] = row.app.latest
    if not requests:
        raise Invalid("name at least one app to export")
    queue: list[tuple[str, str | None, str]] = [
        (*_split_request(item), "requested") for item in requests
    ]
    chosen: dict[str, AppVersion] = {}
    while queue:
        name, wanted, why = queue.pop(0)
        candidates = rows.get(name)
        if not candidates:
            raise Invalid(f"{why}: no app {name} in market {market.name}")
        try:
            range_ = parse_range(wanted) if wanted else None
        except InvalidRange as exc:
            raise Invalid(f"{why} {name}: {exc}") from None
        if name in chosen:
            have = chosen[name].version
            if range_ is not None and max_satisfying([have], range_) is None:
                raise Invalid(f"{why} {name} {wanted}, but {name} {have} is already in the bundle")
            continue
        if range_ is None:
            version = latest[name]
        else:
            # A yanked version only when nothing else satisfies (an exact version
            # asked for): it travels yanked, so the far side still refuses it unforced.
            best = max_satisfying(
                [r.version for r in candidates if not r.yanked], range_
            ) or max_satisfying([r.version for r in candidates], range_)
            if best is None:
                raise Invalid(
                    f"{why} {name} {wanted}: no version in market {market.name} satisfies it"
                )
            version = str(best)
        row = next(r for r in candidates if r.version == version)
        chosen[name] = row
        for dep in row.manifest.get("dependencies") or []:
            queue.append(
                (
                    str(dep.get("name")),
                    str(dep.get("version") or "") or None,
                    f"{name} {version} needs",
                )
            )
    return list(chosen.values())


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def bundle_export(*, market: Market, requests: list[str], out: Path) -> BundleResult:
    """Write the bundle of ``requests`` (``APP`` or ``APP@RANGE``) from ``market`` to
    ``out``: resolve the closure, fetch every archive (size and digest verified),
    write the index and market documents with dump_json, then the tar, atomically."""
    versions = bundle_resolve(market=market, requests=requests)
    doc = empty_market(market.name, f"Offline bundle of {market.name}")
    indexes: dict[str, dict[str, Any]] = {}
    archives: dict[str, bytes] = {}
    for row in versions:
        name = row.app.name
        archives[archive_key(name, row.version)] = package_fetch(version=row)
        indexes[name] = index_add_version(
            indexes.get(name),
            name=name,
            version=row.version,
            digest=row.digest,
            size=row.size,
            publisher=row.publisher or "bundle",
            manifest=row.manifest,
            published=row.published.isoformat().replace("+00:00", "Z") if row.published else None,
        )
        # Yanks and advisories travel with the versions (SPEC 14).
        if row.yanked:
            indexes[name] = index_set_yanked(indexes[name], version=row.version, reason=row.yanked)
        if row.app.advisories:
            indexes[name]["advisories"] = list(row.app.advisories)
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in sorted(indexes):
            index_bytes = dump_json(indexes[name])
            doc = market_apply_index(
                doc,
                name=name,
                entry=market_entry(indexes[name], index_bytes),
                market_name=market.name,
            )
            _tar_member(tar, index_key(name), index_bytes)
        for key in sorted(archives):
            _tar_member(tar, key, archives[key])
        _tar_member(tar, "market.json", dump_json(doc))
    data = buffer.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.replace(temporary, out)
    return BundleResult(
        path=out,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        size=len(data),
        versions=[(r.app.name, r.version) for r in versions],
    )


def bundle_verify(folder: Path) -> int:
    """Check an extracted bundle: market.json, every index.json against its
    index_digest, every archive's size and sha256 against its index. Returns the
    number of archives; raises Invalid with the first problem."""
    try:
        doc = parse_market_json((folder / "market.json").read_bytes())
        count = 0
        for name, entry in doc["apps"].items():
            check_market_entry(name, entry)
            index = parse_index_json(
                name, (folder / index_key(name)).read_bytes(), entry["index_digest"]
            )
            for version, item in index["versions"].items():
                check_version_entry(name, version, item)
                archive = folder / archive_key(name, version)
                data = archive.read_bytes()
                if len(data) != item["size"]:
                    raise Invalid(f"{name} {version}: size differs from its index.json")
                if "sha256:" + hashlib.sha256(data).hexdigest() != item["digest"]:
                    raise Invalid(f"{name} {version}: sha256 differs from its index.json")
                count += 1
    except FileNotFoundError as exc:
        raise Invalid(f"bundle incomplete: {Path(exc.filename).name} is missing") from None
    except MarketDocumentError as exc:
        raise Invalid(f"bundle invalid: {exc}") from None
    return count


def bundle_limits() -> Limits:
    return Limits(
        max_members=settings.BUNDLE_MAX_MEMBERS,
        max_total_bytes=settings.BUNDLE_MAX_TOTAL_BYTES,
        max_file_bytes=max(settings.PACKAGE_MAX_ARCHIVE_BYTES, settings.PACKAGE_MAX_FILE_BYTES),
    )


def bundle_import(*, actor: Actor, name: str, data: bytes) -> Market:
    """Register an uploaded bundle as a local, read-only market and sync it.

    1. staff only; the name is a free market name;
    2. extract into a temporary folder beside the markets, refusing hostile archives
       (links, absolute or .. paths, repeats, sizes over BUNDLE_MAX_*);
    3. verify every document and archive (bundle_verify);
    4. move it into MARKETS_DIR/bundles/NAME, subscribe (market_add), sync now.
    Nothing is left behind on refusal."""
    if actor.user is not None and not is_staff(actor.user):
        raise Forbidden("only staff may import bundles")
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise Invalid(f"name: {'; '.join(exc.messages)}") from None
    if Market.objects.filter(name=name).exists():
        raise AlreadyExists(f"a market named {name} already exists")
    root = Path(settings.MARKETS_DIR) / "bundles"
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if final.exists():
        raise AlreadyExists(f"{final} already exists")
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        try:
            extract_archive(data, staging, limits=bundle_limits())
        except PackageRefused as exc:
            raise Invalid(f"bundle refused: {exc.reason}") from None
        count = bundle_verify(staging)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        with transaction.atomic():
            market = market_add(
                actor=actor,
                name=name,
                location=str(final),
                description=f"Imported offline bundle ({count} packages)",
            )
            audit_record(
                actor=actor,
                action="bundle.import",
                target=market,
                detail={"packages": count, "sha256": hashlib.sha256(data).hexdigest()},
            )
    except MarketRefused as exc:
        shutil.rmtree(final, ignore_errors=True)
        raise Invalid(str(exc)) from None
    market_sync(market=market)
    market.refresh_from_db()
    return market
