"""App details (README, docs pages, icon) read from the latest archive after sync.

Kept apart from the sync itself: a sync costs one request per changed index,
and the archives it needs for details are fetched afterwards, through the
package cache, by a task of their own.
"""

from __future__ import annotations

import logging
import re

from django.core.cache import cache
from django.db import transaction

from market.models import App, AppDoc, AppVersion
from market.package import PackageRefused, read_package
from market.services.fetch import ArchiveMismatch, package_fetch
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
    try:
        package = read_package(package_fetch(version=version), filename=version.archive)
    except (StorageError, ArchiveMismatch, PackageRefused) as exc:
        log.warning("README of %s %s not available: %s", app, version.version, exc)
        return ""
    readme = package.readme or ""
    cache.set(key, readme, README_CACHE_SECONDS)
    return readme


def app_details_refresh(*, app: App) -> bool:
    """Store README, docs and icon of the app's latest version. Returns False
    when the archive could not be fetched or read (logged; retried next sync)."""
    version = app.versions.filter(version=app.latest).first()
    if version is None or app.details_digest == version.digest:
        return True
    try:
        package = read_package(package_fetch(version=version), filename=version.archive)
    except (StorageError, ArchiveMismatch, PackageRefused) as exc:
        log.warning("details of %s %s not refreshed: %s", app, version.version, exc)
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
