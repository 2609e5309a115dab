"""App details (README, docs pages, icon) read from the latest archive after sync.

Kept apart from the sync itself: a sync costs one request per changed index,
and the archives it needs for details are fetched afterwards, through the
package cache, by a task of their own.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import yaml
from django.core.cache import cache
from django.db import transaction

from market.models import App, AppDoc, AppVersion
from market.package import Package, PackageRefused
from market.package.secrets import MASK, mask_secrets, secret_paths
from market.services.fetch import ArchiveMismatch, package_load
from market.storage.base import StorageError
from search.services.indexing import index_later

log = logging.getLogger(__name__)
_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


def _doc_title(path: str, text: str) -> str:
    match = _HEADING.search(text)
    if match:
        return match.group(1).strip()[:200]
    stem = path.rsplit("/", 1)[-1].removesuffix(".md")
    return stem.replace("-", " ").replace("_", " ").capitalize()[:200]


README_CACHE_SECONDS = 24 * 3600


def version_readme(*, version: AppVersion) -> str:
    """The README of one version. The latest's is stored with the app; an older
    one's is read from its archive (through the package cache, verified) and kept
    in the cache by digest, which names immutable content. "" when there is none
    or the archive cannot be had now (logged)."""
    app = version.app
    if version.version == app.latest and app.details_digest == version.digest:
        return app.readme
    key = f"market:readme:{version.digest}"
    cached = cache.get(key)
    if isinstance(cached, str):
        return cached
    package = _package_or_none(version, "README")
    if package is None:
        return ""
    readme = package.readme or ""
    cache.set(key, readme, README_CACHE_SECONDS)
    return readme


@dataclass(frozen=True)
class VersionValues:
    """What the app page's Values tab shows of one version."""

    values_yaml: str
    """values.yaml as published (comments kept), or re-written with secrets masked."""
    schema_json: str
    """values.schema.json, indented; "" when the package has none."""
    secrets_masked: bool
    """The schema marks secrets with defaults: values_yaml is the masked re-write."""


def _hides_a_secret(original: Any, masked: Any) -> bool:
    """Whether masking replaced a default that says something: an empty one ("",
    nothing) holds no secret, and the file is then shown as published."""
    if masked == MASK and original != MASK:
        return original not in ("", None, [], {})
    if isinstance(original, dict) and isinstance(masked, dict):
        return any(_hides_a_secret(original[k], masked.get(k)) for k in original)
    if isinstance(original, list) and isinstance(masked, list):
        return any(_hides_a_secret(a, b) for a, b in zip(original, masked, strict=False))
    return False


def _values_of(package: Package) -> VersionValues:
    raw = package.files.get("values.yaml", b"").decode("utf-8", errors="replace")
    schema = package.values_schema
    values = dict(package.values)
    masked = mask_secrets(values, secret_paths(schema))
    # A default for a secret (writeOnly) is never shown, as anywhere else in the portal;
    # only then is the file re-written, losing its comments.
    secrets_masked = _hides_a_secret(values, masked)
    values_yaml = (
        yaml.safe_dump(masked, sort_keys=False, allow_unicode=True) if secrets_masked else raw
    )
    return VersionValues(
        values_yaml=values_yaml,
        schema_json=json.dumps(schema, indent=2, ensure_ascii=False) if schema else "",
        secrets_masked=secrets_masked,
    )


def _package_or_none(version: AppVersion, what: str) -> Package | None:
    """The version's read package, or None when its archive cannot be had or read
    now (logged with ``what`` was wanted: pages show without it, syncs retry)."""
    try:
        return package_load(version=version)
    except (StorageError, ArchiveMismatch, PackageRefused) as exc:
        log.warning("%s of %s %s not available: %s", what, version.app, version.version, exc)
        return None


def version_values(*, version: AppVersion) -> VersionValues | None:
    """Default values and schema of one version, read from its archive (through the
    package cache, verified) and kept in the cache by digest. None when the archive
    cannot be had now (logged)."""
    key = f"market:values:v1:{version.digest}"
    cached = cache.get(key)
    if isinstance(cached, VersionValues):
        return cached
    package = _package_or_none(version, "values")
    if package is None:
        return None
    found = _values_of(package)
    cache.set(key, found, README_CACHE_SECONDS)
    return found


def app_details_refresh(*, app: App) -> bool:
    """Store README, docs and icon of the app's latest version. Returns False
    when the archive could not be fetched or read (logged; retried next sync)."""
    version = app.versions.filter(version=app.latest).first()
    if version is None or app.details_digest == version.digest:
        return True
    package = _package_or_none(version, "details")
    if package is None:
        return False
    with transaction.atomic():
        app.readme = package.readme or ""
        if package.icon is not None:
            icon_name, icon_bytes = package.icon
            app.icon = icon_bytes
            app.icon_type = "image/svg+xml" if icon_name.endswith(".svg") else "image/png"
        else:
            app.icon, app.icon_type = None, ""
        app.details_digest = version.digest
        app.save(update_fields=["readme", "icon", "icon_type", "details_digest"])
        AppDoc.objects.filter(app=app).delete()
        AppDoc.objects.bulk_create(
            AppDoc(app=app, path=path, title=_doc_title(path, text), body=text)
            for path, text in sorted(package.docs.items())
        )
        index_later("app", [app.pk])
    return True
