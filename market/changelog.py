"""Release notes from a package's CHANGELOG.md: the sections between two versions.

A changelog is Markdown whose version sections start with a heading naming the
version: ``## 1.2.0``, ``## [1.2.0] - 2024-05-01``, ``### v2.0.0 (breaking)``. A
section runs to the next heading of its level or above, so ``### Fixed`` inside it
stays in it. Headings inside fenced code blocks are not headings.

The text is the publisher's, so it is hostile: only the first ``MAX_SCAN_CHARS`` are
read, at most ``MAX_NOTES_CHARS`` are handed on, and the caller renders the Markdown
through market.prose (sanitised) like any other package text. Lines are matched one
at a time by a pattern with bounded repetition, so no input makes it slow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from market.semver import InvalidVersion, Version, parse_version

# Changelogs list the newest release first, and an upgrade's notes are at the top.
MAX_SCAN_CHARS = 1024 * 1024
# What one page shows at most; the rest stays in the package.
MAX_NOTES_CHARS = 64 * 1024

# "## 1.2.0", "## [1.2.0](link) - date", "# v1.2.0-rc.1 (yanked)": the heading level
# and the version-looking word right after it (checked strictly by parse_version).
_VERSION_HEADING = re.compile(r"(#{1,6})[ \t]{1,8}\[?[vV]?([0-9][0-9A-Za-z.+-]{4,127})")
_HEADING = re.compile(r"(#{1,6})(?:[ \t]|$)")
_FENCE = re.compile(r"[ ]{0,3}(```|~~~)")

CHANGELOG_NAMES = ("CHANGELOG.md", "CHANGES.md")


@dataclass(frozen=True)
class ChangelogSection:
    version: Version
    level: int
    text: str  # Markdown, its heading included


@dataclass(frozen=True)
class ReleaseNotes:
    markdown: str
    # The versions whose sections are shown, newest first; empty when ``whole``.
    versions: list[str] = field(default_factory=list)
    # No version headings: the whole file is shown (up to the limit).
    whole: bool = False
    # Cut at MAX_NOTES_CHARS (or the file was longer than MAX_SCAN_CHARS).
    truncated: bool = False


def _version_of(line: str) -> tuple[int, Version] | None:
    match = _VERSION_HEADING.match(line)
    if match is None:
        return None
    word = match[2].rstrip(".")
    try:
        return len(match[1]), parse_version(word)
    except InvalidVersion:
        return None


def changelog_sections(text: str) -> list[ChangelogSection]:
    """The version sections of a changelog, in file order."""
    sections: list[ChangelogSection] = []
    open_version: tuple[int, Version] | None = None
    lines: list[str] = []
    fence = ""

    def close() -> None:
        if open_version is not None:
            level, version = open_version
            sections.append(ChangelogSection(version, level, "".join(lines).rstrip() + "\n"))

    for line in text[:MAX_SCAN_CHARS].splitlines(keepends=True):
        fenced = _FENCE.match(line)
        if fenced and (not fence or fenced[1] == fence):
            fence = "" if fence else fenced[1]
        heading = None if fence or fenced else _HEADING.match(line)
        if heading is not None:
            found = _version_of(line)
            level = len(heading[1])
            if found is not None or (open_version is not None and level <= open_version[0]):
                close()
                open_version, lines = found, []
        if open_version is not None:
            lines.append(line)
    close()
    return sections


def cut(text: str, limit: int) -> str:
    """At most ``limit`` characters, ended at a line break when there is one."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    return head[: head.rfind("\n") + 1] or head


def release_notes(
    text: str, *, current: str, target: str, limit: int = MAX_NOTES_CHARS
) -> ReleaseNotes:
    """What changed after ``current`` up to and including ``target``.

    1. the version sections whose version is in (current, target], newest first;
    2. no version heading at all: the whole file, as the author wrote it;
    3. version headings, none in the range: empty notes (the caller says so).
    Either way at most ``limit`` characters, ``truncated`` when cut."""
    sections = changelog_sections(text)
    scanned_all = len(text) <= MAX_SCAN_CHARS
    if not sections:
        whole = cut(text[:MAX_SCAN_CHARS], limit)
        return ReleaseNotes(whole, whole=True, truncated=len(whole) < len(text))
    try:
        low, high = parse_version(current), parse_version(target)
    except InvalidVersion:
        return ReleaseNotes("")
    chosen = sorted(
        (s for s in sections if low < s.version <= high), key=lambda s: s.version, reverse=True
    )
    parts: list[str] = []
    used = 0
    truncated = False
    for section in chosen:
        room = limit - used
        if len(section.text) > room:
            if room > 0:
                parts.append(cut(section.text, room))
            truncated = True
            break
        parts.append(section.text)
        used += len(section.text) + 1
    shown = [str(s.version) for s in chosen[: len(parts)]]
    # A file cut before its end may hold older sections of the range.
    truncated = truncated or (not scanned_all and bool(chosen) and chosen[-1] is sections[-1])
    return ReleaseNotes("\n".join(parts), versions=shown, truncated=truncated)
