"""Strict SemVer 2.0.0 versions and npm-style ranges.

Versions are parsed with the regular expression published on semver.org: no leading
"v", no leading zeros, no missing parts. Ranges (``^1.2``, ``~1.2.3``, ``1.x``,
``1.2.3 - 2.0.0``, ``>=1.2.0 <2.0.0``, ``a || b``) are delegated to ``node-semver``
in strict mode, behind a small typed wrapper that also refuses the inputs npm reads as
"any version" by accident (an empty string, an empty ``||`` alternative).

Equality (``==``, hashing) compares every part including build metadata, so two
different version strings are never the same key. Ordering (``<``, ``max``, ``sorted``)
follows SemVer precedence, where build metadata is ignored: use
``a.precedence == b.precedence`` to ask "same precedence".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import nodesemver

__all__ = [
    "InvalidRange",
    "InvalidVersion",
    "Range",
    "Version",
    "max_satisfying",
    "parse_range",
    "parse_version",
]

# https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string
# with [0-9] instead of \d so that non-ASCII digits are refused.
_SEMVER = re.compile(
    r"(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    r"(?:-(?P<prerelease>(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?",
    re.ASCII,
)
_PLAIN_RELEASE = re.compile(r"[0-9]+(\.[0-9]+)*", re.ASCII)

# Longer inputs are refused before any regular expression runs on them.
MAX_VERSION_LENGTH = 128
MAX_RANGE_LENGTH = 256


class InvalidVersion(ValueError):
    """A string that is not a strict SemVer 2.0.0 version. The message is one line."""


class InvalidRange(ValueError):
    """A string that is not a valid npm-style range. The message is one line."""


def _show(text: str, limit: int = 60) -> str:
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)


def _version_problem(text: str) -> str:
    """Why a string is not strict SemVer, in words a package author can act on."""
    core = re.split(r"[-+]", text, maxsplit=1)[0]
    if text.startswith(("v", "V", "=")):
        return "no leading 'v' or '=' allowed"
    if _PLAIN_RELEASE.fullmatch(core):
        parts = core.split(".")
        if len(parts) != 3:
            return "needs exactly three parts MAJOR.MINOR.PATCH"
        if any(len(p) > 1 and p.startswith("0") for p in parts):
            return "numbers must not have leading zeros"
        if "-" in text and any(
            len(ident) > 1 and ident.startswith("0") and ident.isdigit()
            for ident in text.split("-", 1)[1].split("+", 1)[0].split(".")
        ):
            return "numeric prerelease identifiers must not have leading zeros"
    if text != text.strip():
        return "surrounding whitespace is not allowed"
    return "not a strict SemVer 2.0.0 version (MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD])"


def _identifier_key(identifier: str) -> tuple[int, int, str]:
    # Numeric identifiers sort numerically and below alphanumeric ones (SemVer 11.4).
    if identifier.isdigit():
        return (0, int(identifier), "")
    return (1, 0, identifier)


@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()
    _key: tuple[Any, ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        # A release sorts above every prerelease of the same MAJOR.MINOR.PATCH; a longer
        # prerelease wins when all shared identifiers are equal (tuple order does that).
        pre_key = (
            (1, ()) if not self.prerelease else (0, tuple(map(_identifier_key, self.prerelease)))
        )
        object.__setattr__(self, "_key", (self.major, self.minor, self.patch, *pre_key))

    @property
    def precedence(self) -> tuple[Any, ...]:
        """The key SemVer orders by: everything except build metadata."""
        return self._key

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key < other._key

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key <= other._key

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key > other._key

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key >= other._key


def parse_version(text: str) -> Version:
    """Parse a strict SemVer 2.0.0 string, or raise InvalidVersion saying why not."""
    if not isinstance(text, str):
        raise InvalidVersion(f"version must be a string, not {type(text).__name__}")
    if not text:
        raise InvalidVersion("version is empty")
    if len(text) > MAX_VERSION_LENGTH:
        raise InvalidVersion(f"version is longer than {MAX_VERSION_LENGTH} characters")
    match = _SEMVER.fullmatch(text)
    if match is None:
        raise InvalidVersion(f"invalid version {_show(text)}: {_version_problem(text)}")
    prerelease = match["prerelease"]
    build = match["build"]
    return Version(
        major=int(match["major"]),
        minor=int(match["minor"]),
        patch=int(match["patch"]),
        prerelease=tuple(prerelease.split(".")) if prerelease else (),
        build=tuple(build.split(".")) if build else (),
    )


class Range:
    """An npm-style range. ``str()`` gives the text it was parsed from, ``normalized``
    the comparator form (``^1.2.3`` -> ``>=1.2.3 <2.0.0``).

    Prereleases follow npm: ``1.3.0-beta`` matches ``>=1.3.0-alpha <2.0.0`` (a comparator
    names a prerelease of the same MAJOR.MINOR.PATCH) but not ``^1.2.0``.
    """

    __slots__ = ("_range", "text")

    def __init__(self, text: str, parsed: nodesemver.Range) -> None:
        self.text = text
        self._range = parsed

    @property
    def normalized(self) -> str:
        return str(self._range.range) or "*"

    def matches(self, version: Version | str) -> bool:
        """Whether a version is in the range. A string is parsed strictly first."""
        if isinstance(version, str):
            version = parse_version(version)
        return bool(self._range.test(str(version)))

    def __contains__(self, version: object) -> bool:
        return isinstance(version, Version | str) and self.matches(version)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Range({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Range) and self.normalized == other.normalized

    def __hash__(self) -> int:
        return hash(self.normalized)


def parse_range(text: str) -> Range:
    """Parse an npm-style range, or raise InvalidRange saying why not.

    ``*`` (or ``x``) means any version; an empty string or an empty ``||`` alternative,
    which npm silently reads as "any version", is refused.
    """
    if not isinstance(text, str):
        raise InvalidRange(f"range must be a string, not {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise InvalidRange("range is empty; write * for any version")
    if len(text) > MAX_RANGE_LENGTH:
        raise InvalidRange(f"range is longer than {MAX_RANGE_LENGTH} characters")
    if not text.isascii() or not text.isprintable():
        raise InvalidRange(f"invalid range {_show(text)}: only printable ASCII is allowed")
    if any(not part.strip() for part in stripped.split("||")):
        raise InvalidRange(f"invalid range {_show(text)}: empty alternative around ||")
    try:
        parsed = nodesemver.make_range(stripped, loose=False)
    except (ValueError, TypeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "not understood"
        raise InvalidRange(f"invalid range {_show(text)}: {detail}") from None
    return Range(stripped, parsed)


def max_satisfying(versions: Iterable[Version | str], range_: Range | str) -> Version | None:
    """The highest version (by SemVer precedence) in ``range_``, or None.

    String versions that are not strict SemVer are skipped, not errors: a market may hold
    entries written by other tools.
    """
    wanted = parse_range(range_) if isinstance(range_, str) else range_
    best: Version | None = None
    for candidate in versions:
        if isinstance(candidate, str):
            try:
                candidate = parse_version(candidate)
            except InvalidVersion:
                continue
        if wanted.matches(candidate) and (best is None or candidate > best):
            best = candidate
    return best
