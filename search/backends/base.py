"""The interface both search backends implement, and the shapes they answer with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

TYPES = ("app", "appdoc", "instance", "namespace", "component")
TYPE_LABELS = {
    "app": "Apps",
    "appdoc": "App docs",
    "instance": "Instances",
    "namespace": "Namespaces",
    "component": "UI components",
}
# Facets besides the type: each a keyword field of the documents.
FACETS = ("category", "market", "namespace", "status")
# Hit meta of yanked versions and advisories (SPEC 14), on apps and instances:
# the yank reason, the worst severity, the advisory ids.
VERSION_FLAG_META = ("yanked", "advisory", "advisories")
MAX_QUERY_LENGTH = 200
MAX_RESULTS_WINDOW = 1000  # deeper pages are not served: refine the query instead

# Highlight tags the search server puts around matches: characters no document
# holds, so that everything else can be escaped before they become <mark>.
MARK_OPEN = "\ue000"
MARK_CLOSE = "\ue001"


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    type: str = ""
    filters: dict[str, str] = field(default_factory=dict)
    page: int = 1
    per_page: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass
class Hit:
    type: str
    title: str
    url: str
    highlight: SafeString
    """Escaped text with <mark> around the matches: safe to render as is."""
    summary: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    score: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "title": self.title,
            "url": self.url,
            "highlight": str(self.highlight),
            "summary": self.summary,
            **{key: value for key, value in self.meta.items() if value},
        }


@dataclass
class SearchResults:
    count: int
    hits: list[Hit]
    facets: dict[str, list[tuple[str, int]]]
    query: SearchQuery
    degraded: bool = False
    did_you_mean: str = ""
    """A corrected query when the one asked found nothing ("promethues")."""
    corrected: bool = False
    """The hits are those of ``did_you_mean``: the query asked found nothing."""

    @property
    def pages(self) -> int:
        shown = min(self.count, MAX_RESULTS_WINDOW)
        return max(1, -(-shown // self.query.per_page))


@dataclass
class Suggestion:
    type: str
    title: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return {"type": self.type, "title": self.title, "url": self.url}


def _suggestion_rank(q: str, title: str) -> int:
    """0 the title is the query, 1 the query is a whole word of it (or whole words),
    2 a word of the title starts with it, 3 it is inside a word, 4 it matched
    elsewhere (the summary, a typo): "log" ranks "Log shipper" above "Logrotate"
    above "Catalog"."""
    q = q.lower().strip()
    title = title.lower()
    if title == q:
        return 0
    if re.search(rf"(?<!\w){re.escape(q)}(?!\w)", title):
        return 1
    if re.search(rf"(?<!\w){re.escape(q)}", title):
        return 2
    return 3 if q in title else 4


def suggestions_ranked(q: str, found: list[Suggestion], *, limit: int) -> list[Suggestion]:
    """Suggestions in the order a person typing expects: whole-word matches, then
    prefixes, then substrings, each group in the backend's order (a stable sort)."""
    return sorted(found, key=lambda s: _suggestion_rank(q, s.title))[:limit]


# Candidates a backend fetches for suggestions_ranked to choose `limit` from: the
# backends score a substring of a name like a whole word.
SUGGEST_CANDIDATES = 4


class SearchBackend(Protocol):
    def search(self, query: SearchQuery, *, user: Any) -> SearchResults: ...

    def suggest(self, q: str, *, user: Any, limit: int = 8) -> list[Suggestion]: ...


def marked(fragment: str) -> SafeString:
    """Escape a highlighted fragment, then turn the server's markers into <mark>."""
    # Adjacent matches (Chinese, one character per token) read as one.
    text = str(escape(fragment)).replace(MARK_CLOSE + MARK_OPEN, "")
    # An unbalanced marker (a fragment cut mid-match) would leave an open tag.
    if text.count(MARK_OPEN) != text.count(MARK_CLOSE):
        text = text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "")
    return mark_safe(text.replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>"))  # noqa: S308


def snippet(text: str, words: list[str], *, width: int = 160) -> SafeString:
    """A window of `text` around the first matching word, the words marked."""
    text = " ".join(text.replace(MARK_OPEN, "").replace(MARK_CLOSE, "").split())
    lowered = text.lower()
    positions = [lowered.find(w.lower()) for w in words if w and w.lower() in lowered]
    start = max(0, min(positions) - width // 3) if positions else 0
    window = text[start : start + width]
    if words:
        pattern = re.compile("|".join(re.escape(w) for w in words if w), re.IGNORECASE)
        window = pattern.sub(lambda m: f"{MARK_OPEN}{m.group(0)}{MARK_CLOSE}", window)
    prefix = "…" if start > 0 else ""
    suffix = "…" if start + width < len(text) else ""
    return marked(prefix + window + suffix)
