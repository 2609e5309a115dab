"""The user guide: ``docs/guide/<page>.md``, shown under the portal's Docs.

The pages are repository files (trusted), with the same front matter and Markdown
as the component docs (portal.components), rendered and sanitised the same way. Their
order is the guide's reading order, not the alphabet.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from portal.components import docs_html, front_matter

GUIDE_ORDER = ("installing", "upgrading", "publishing", "building")


class GuidePageNotFound(LookupError):
    pass


@dataclass(frozen=True)
class GuidePage:
    slug: str
    title: str
    summary: str
    html: str
    """Sanitised HTML of the body."""

    @property
    def url(self) -> str:
        return f"/docs/guide/{self.slug}/"


def guide_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "guide"


def guide_pages() -> list[GuidePage]:
    """The guide's pages in reading order; a page missing on disk is left out."""
    return [guide_page(slug) for slug in GUIDE_ORDER if (guide_dir() / f"{slug}.md").is_file()]


def guide_page(slug: str) -> GuidePage:
    # Only the listed names: a slug is never joined into a path before that check.
    if slug not in GUIDE_ORDER:
        raise GuidePageNotFound(slug)
    path = guide_dir() / f"{slug}.md"
    if not path.is_file():
        raise GuidePageNotFound(slug)
    return _load(slug, str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _load(slug: str, path: str, mtime_ns: int) -> GuidePage:
    # Cached per file version, as component docs are.
    meta, body = front_matter(Path(path).read_text(encoding="utf-8"))
    return GuidePage(
        slug=slug,
        title=str(meta.get("title") or slug.capitalize()),
        summary=str(meta.get("summary") or ""),
        html=docs_html(body),
    )
