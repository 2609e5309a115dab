"""Markdown from packages (README.md, docs/**.md) turned into HTML that is safe to show.

Package text is written by whoever publishes, so it is hostile until proven otherwise:
it is rendered by ``markdown`` (raw HTML passes straight through it) and the result is
then sanitised by nh3 with an allow-list. No script, style, event handler, form,
iframe, image or ``javascript:`` URL survives; element ids are prefixed so that a README
cannot clobber the page's own ids; relative links to the package's own docs pages
are pointed at the portal's docs pages.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from functools import lru_cache
from html.parser import HTMLParser
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl",
    "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li",
    "ol", "p", "pre", "s", "samp", "strong", "sub", "summary", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
    "h1": {"id"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
    "h5": {"id"},
    "h6": {"id"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Contents dropped with the tag, not kept as text.
DROPPED_WITH_CONTENT = {"script", "style", "template", "iframe", "object", "noscript"}


# Maps a relative link target (``docs/routing.md``) to a portal URL, or None when it
# names nothing the portal shows.
LinkResolver = Callable[[str], str | None]


class _ImagesAsWords(Treeprocessor):
    """Markdown images become their alt text. An image from any URL is a request to
    a host the publisher chooses the moment a reader opens the page (a tracking
    pixel), and the portal does not serve the package's own files. Raw ``<img>``
    HTML is dropped by the sanitiser: ``img`` is not an allowed tag."""

    def run(self, root: Element) -> None:
        for parent in root.iter():
            for index, child in enumerate(list(parent)):
                if child.tag != "img":
                    continue
                words = Element("span")
                words.text = child.get("alt") or ""
                words.tail = child.tail
                parent.remove(child)
                parent.insert(index, words)


class _ImagesAsWordsExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_ImagesAsWords(md), "images_as_words", 0)


class _DocPathsAsLinks(Treeprocessor):
    """A README that names a docs page as code (`docs/routing.md`, as most do) gets
    a link to that page. Only names the resolver knows become links; code inside a
    link or a code block is left alone."""

    def __init__(self, md: markdown.Markdown, resolve: LinkResolver) -> None:
        super().__init__(md)
        self.resolve = resolve

    def run(self, root: Element) -> None:
        for parent in root.iter():
            if parent.tag in ("a", "pre"):
                continue
            for index, child in enumerate(list(parent)):
                text = (child.text or "").strip()
                if child.tag != "code" or len(child) or not text.endswith(".md"):
                    continue
                if self.resolve(text) is None:
                    continue
                # The href stays the package path: the sanitiser's attribute filter
                # resolves it like any other link, so there is one rule for both.
                link = Element("a", {"href": text})
                link.tail, child.tail = child.tail, None
                parent.remove(child)
                link.append(child)
                parent.insert(index, link)


class _DocPathsAsLinksExtension(Extension):
    def __init__(self, resolve: LinkResolver) -> None:
        super().__init__()
        self.resolve = resolve

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        # After the inline patterns (priority 20), which make the code elements.
        md.treeprocessors.register(_DocPathsAsLinks(md, self.resolve), "doc_paths_as_links", 5)


EXTENSIONS: list[str | Extension] = [
    "tables",
    "fenced_code",
    "sane_lists",
    "toc",
    _ImagesAsWordsExtension(),
]
ID_PREFIX = "md-"


def _attribute_filter(resolve: LinkResolver | None) -> Callable[[str, str, str], str | None]:
    def keep(element: str, attribute: str, value: str) -> str | None:
        if attribute not in ("href", "src"):
            return value
        if element == "a" and value.startswith("#"):
            # Heading ids get ID_PREFIX; in-page links follow them.
            return f"#{ID_PREFIX}{value[1:]}"
        parts = urlsplit(value)
        if parts.scheme or parts.netloc:
            return value  # absolute: nh3 checks the scheme against URL_SCHEMES
        if resolve is not None:
            resolved = resolve(value)
            if resolved is not None:
                return resolved
            if parts.path and not parts.path.startswith("/"):
                # A file of the package the portal does not serve (values.yaml,
                # docs/missing.md): relative to the app page it would be a 404.
                return None
        return value

    return keep


_HEADING_TAG = re.compile(r"<(/?)h([1-6])\b")


def _shift_headings(html: str, levels: int) -> str:
    """h1 -> h2 and so on (at most h6): the page has its own h1."""
    return _HEADING_TAG.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + levels, 6)}", html)


def render_markdown(
    text: str, *, resolve_link: LinkResolver | None = None, heading_offset: int = 1
) -> SafeString:
    """Render package Markdown and sanitise the HTML. Returns markup safe to embed.
    Headings move down ``heading_offset`` levels, below the page's own title."""
    if not text.strip():
        return mark_safe("")
    extensions = (
        EXTENSIONS
        if resolve_link is None
        else [*EXTENSIONS, _DocPathsAsLinksExtension(resolve_link)]
    )
    html = markdown.markdown(text, extensions=extensions, output_format="html")
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter(resolve_link),
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        id_prefix=ID_PREFIX,
    )
    # Only tags nh3 let through are left, so the heading pattern cannot meet raw text.
    return mark_safe(_shift_headings(cleaned, heading_offset))  # noqa: S308 - sanitised above


# Elements whose end separates words: "</td><td>" must not glue two cells together.
_BLOCK_TAGS = frozenset(
    {"p", "li", "td", "th", "tr", "pre", "blockquote", "dt", "dd", "br", "hr", "div",
     "h1", "h2", "h3", "h4", "h5", "h6"}
)  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


class _TextOf(HTMLParser):
    """The words of rendered Markdown: text nodes only, tags and entities gone."""

    def __init__(self, *, skip: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = skip
        self.skipping = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.skip:
            self.skipping += 1
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.skip and self.skipping:
            self.skipping -= 1
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


@lru_cache(maxsize=512)
def markdown_text(text: str, *, prose_only: bool = False) -> str:
    """Markdown as the words a reader sees: what search indexes and quotes in
    snippets, never ``**``, ``[link](url)`` or ``#`` marks. With ``prose_only``,
    headings and code blocks are left out (the lead of a page).

    Rendered by the same Markdown pipeline as the page, then only text nodes are kept,
    so nothing here is markup: the caller escapes it like any other text. Cached:
    the database search backend calls it for each hit it shows."""
    if not text.strip():
        return ""
    html = markdown.markdown(text, extensions=EXTENSIONS, output_format="html")
    return html_text(html, prose_only=prose_only)


def html_text(html: str, *, prose_only: bool = False) -> str:
    """The text nodes of an HTML fragment, whitespace collapsed (see markdown_text)."""
    skip = frozenset(DROPPED_WITH_CONTENT | (_HEADINGS | {"pre"} if prose_only else set()))
    parser = _TextOf(skip=skip)
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


def docs_link_resolver(
    docs_url: Callable[[str], str], doc_paths: set[str], *, current: str = ""
) -> LinkResolver:
    """A resolver for links between an app's README and its docs pages.

    ``doc_paths`` are the package paths (``docs/routing.md``); ``current`` is the path
    of the page being rendered (empty for the README, which sits at the package root).
    A link such as ``docs/routing.md#tls`` or, from a docs page, ``routing.md``
    becomes ``docs_url("routing") + "#md-tls"``.
    """

    def resolve(href: str) -> str | None:
        parts = urlsplit(href)
        if not parts.path:
            return None
        base = posixpath.dirname(current)
        target = posixpath.normpath(posixpath.join(base, parts.path))
        if target not in doc_paths and f"{target}.md" in doc_paths:
            target = f"{target}.md"  # docs/routing: the page without its suffix
        if target not in doc_paths:
            return None
        fragment = f"#{ID_PREFIX}{parts.fragment}" if parts.fragment else ""
        return docs_url(doc_slug(target)) + fragment

    return resolve


def doc_slug(path: str) -> str:
    """``docs/guides/tls.md`` -> ``guides/tls``: the docs page's part of its URL."""
    return path.removeprefix("docs/").removesuffix(".md")


def doc_path(slug: str) -> str:
    return f"docs/{slug}.md"
