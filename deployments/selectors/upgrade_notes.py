"""What the upgrade page says about the version it upgrades to: its release notes and,
for a new major version, a warning that points at the package's upgrade doc.

Read from the target version's package (already loaded by the page, cached by digest
in market.services.fetch), never from the catalogue, whose docs are the latest
version's. Every piece of package Markdown goes through market.prose.render_markdown."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from market.changelog import CHANGELOG_NAMES, MAX_NOTES_CHARS, ReleaseNotes, cut, release_notes
from market.models import AppDoc, AppVersion
from market.package.model import Package
from market.prose import doc_slug, docs_link_resolver, render_markdown
from market.semver import InvalidVersion, parse_version

# docs/upgrading.md, docs/upgrade-to-2.md, docs/UPGRADING.md ...
_UPGRADE_DOC = re.compile(r"upgrad", re.IGNORECASE)
# A docs page that stands in for a changelog when the package has none.
_NOTES_DOC = re.compile(r"changelog|changes|release|upgrad", re.IGNORECASE)

# Ids on the upgrade page: its release notes, and the upgrade doc when the page
# shows it itself.
NOTES_ANCHOR = "release-notes"
UPGRADE_DOC_ANCHOR = "upgrade-doc"

_NOTHING = mark_safe("")


@dataclass(frozen=True)
class UpgradeNotes:
    current: str
    target: str
    # Newer than the installed version: the case release notes describe.
    newer: bool = False
    # Where the notes come from: "CHANGELOG.md", "docs/upgrading.md", or "" for none.
    source: str = ""
    html: SafeString = _NOTHING
    versions: tuple[str, ...] = ()
    whole: bool = False
    truncated: bool = False
    limit_kib: int = MAX_NOTES_CHARS // 1024
    major: bool = False
    # The package's upgrade doc: its path, where to read it (the portal's docs page,
    # or this page's anchor) and, when this page shows it, its HTML.
    upgrade_doc: str = ""
    upgrade_doc_url: str = ""
    upgrade_doc_html: SafeString = _NOTHING


def _is_major(current: str, target: str) -> bool:
    try:
        return parse_version(target).major > parse_version(current).major
    except InvalidVersion:
        return False


def _is_newer(current: str, target: str) -> bool:
    try:
        return parse_version(target) > parse_version(current)
    except InvalidVersion:
        return False


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


def upgrade_notes(*, current: str, target: AppVersion, package: Package) -> UpgradeNotes:
    """The notes of an upgrade from ``current`` to ``target`` (whose package is given):

    1. not newer than ``current``: nothing (a reconfigure, or a move back);
    2. release notes: the CHANGELOG.md sections after ``current`` up to the target
       (the whole file when it has no version headings), else the whole docs page
       whose name says changelog, changes, release or upgrade;
    3. a major version: the upgrade doc (docs/upgrad*.md) linked: the portal's docs
       page when the catalogue serves that very archive's docs, else shown here."""
    version = target.version
    if not _is_newer(current, version):
        return UpgradeNotes(current=current, target=version)
    app = target.app
    # The catalogue's docs pages are one version's (the latest's, once its details
    # are refreshed): link to them only when they are this very archive's.
    served: set[str] = set()
    if app.details_digest == target.digest:
        served = set(AppDoc.objects.filter(app=app).values_list("path", flat=True))

    def docs_url(slug: str) -> str:
        return reverse("market-app-doc", args=[app.market.name, app.name, slug])

    def render(text: str, path: str, heading_offset: int = 1) -> SafeString:
        resolver = docs_link_resolver(docs_url, served, current=path)
        return render_markdown(text, resolve_link=resolver, heading_offset=heading_offset)

    source = next((n for n in CHANGELOG_NAMES if n in package.files), "")
    if source:
        notes = release_notes(_text(package.files[source]), current=current, target=version)
    else:
        source = next((p for p in package.docs if _NOTES_DOC.search(posixpath.basename(p))), "")
        text = package.docs.get(source, "")
        notes = ReleaseNotes(
            cut(text, MAX_NOTES_CHARS), whole=True, truncated=len(text) > MAX_NOTES_CHARS
        )
    major = _is_major(current, version)
    upgrade_doc = next((p for p in package.docs if _UPGRADE_DOC.search(posixpath.basename(p))), "")
    doc_url = ""
    doc_html = _NOTHING
    if major and upgrade_doc:
        if upgrade_doc in served:
            doc_url = docs_url(doc_slug(upgrade_doc))
        elif upgrade_doc == source:
            doc_url = f"#{NOTES_ANCHOR}"
        else:
            doc_url = f"#{UPGRADE_DOC_ANCHOR}"
            # Under the notes card's own h3: its h1 becomes an h3 too.
            doc_html = render(cut(package.docs[upgrade_doc], MAX_NOTES_CHARS), upgrade_doc, 2)
    return UpgradeNotes(
        current=current,
        target=version,
        newer=True,
        source=source,
        html=render(notes.markdown, source) if source else _NOTHING,
        versions=tuple(notes.versions),
        whole=notes.whole,
        truncated=notes.truncated,
        major=major,
        upgrade_doc=upgrade_doc if major else "",
        upgrade_doc_url=doc_url,
        upgrade_doc_html=doc_html,
    )
