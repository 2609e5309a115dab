"""manifest.yaml (schema 1): the model and every field rule of the package format.

Decisions where the format is silent:

- Required: schema, name, version, title, summary, category. Everything else is optional.
- Unknown keys are refused, at the top level and inside maintainers, dependencies and
  components, so a typo (``dependecies``) surfaces at build time instead of being
  ignored. Keys starting with ``x-`` are extensions: kept, never interpreted.
- title is at most 100 characters, summary at most 200, both one line; a package has at
  most 30 keywords of at most 50 characters each.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from guards.paths import UnsafePath, safe_relative_path
from guards.slugs import is_slug
from market.package.errors import PackageRefused
from market.package.safe_yaml import SafeYamlError, load_yaml
from market.semver import InvalidRange, InvalidVersion, Range, Version, parse_range, parse_version

SCHEMA_VERSION = 1
CATEGORY_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*", re.ASCII)
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
TITLE_MAX = 100
SUMMARY_MAX = 200
CATEGORY_MAX = 50
KEYWORDS_MAX = 30
KEYWORD_MAX = 50
SHORT_TEXT_MAX = 200
MANIFEST_MAX_BYTES = 256 * 1024

TOP_LEVEL_KEYS = frozenset(
    {
        "schema",
        "name",
        "version",
        "title",
        "summary",
        "description",
        "category",
        "keywords",
        "license",
        "homepage",
        "maintainers",
        "dependencies",
        "components",
    }
)
REQUIRED_KEYS = ("schema", "name", "version", "title", "summary", "category")


@dataclass(frozen=True)
class Maintainer:
    name: str
    email: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Dependency:
    name: str
    range: Range


@dataclass(frozen=True)
class Component:
    name: str
    templates: tuple[str, ...]

    def matches(self, path: str) -> bool:
        """Whether a package path (``templates/api/x.yaml``) is one of this component's."""
        return any(template_glob(pattern).fullmatch(path) for pattern in self.templates)


@dataclass(frozen=True)
class Manifest:
    schema: int
    name: str
    version: str
    title: str
    summary: str
    category: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    license: str | None = None
    homepage: str | None = None
    maintainers: tuple[Maintainer, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    components: tuple[Component, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def semver(self) -> Version:
        return parse_version(self.version)

    @property
    def archive_name(self) -> str:
        return f"{self.name}-{self.version}.tgz"

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON (index.json ``manifest``), every key present."""
        return {
            "schema": self.schema,
            "name": self.name,
            "version": self.version,
            "title": self.title,
            "summary": self.summary,
            "description": self.description,
            "category": self.category,
            "keywords": list(self.keywords),
            "license": self.license,
            "homepage": self.homepage,
            "maintainers": [
                {k: v for k, v in (("name", m.name), ("email", m.email), ("url", m.url)) if v}
                for m in self.maintainers
            ],
            "dependencies": [{"name": d.name, "version": str(d.range)} for d in self.dependencies],
            "components": [
                {"name": c.name, "templates": list(c.templates)} for c in self.components
            ],
            **dict(self.extensions),
        }


@lru_cache(maxsize=256)
def template_glob(pattern: str) -> re.Pattern[str]:
    """Compile a component glob: ``*`` and ``?`` stay inside one path segment, a ``**``
    segment spans any number of segments (none included). No character classes."""
    parts: list[str] = []
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
            continue
        regex = "".join(
            "[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char)
            for char in segment
        )
        parts.append(regex if last else regex + "/")
    return re.compile("".join(parts))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a number"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a string" if isinstance(value, str) else type(value).__name__


class _Checker:
    """Collects every field problem so that one refusal lists them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def text(
        self,
        where: str,
        value: Any,
        *,
        max_length: int | None = SHORT_TEXT_MAX,
        one_line: bool = True,
        allow_empty: bool = False,
    ) -> str | None:
        if not isinstance(value, str):
            self.fail(where, f"must be a string, got {_kind(value)}")
            return None
        if not allow_empty and not value.strip():
            self.fail(where, "must not be empty")
            return None
        if one_line and ("\n" in value.strip() or "\r" in value):
            self.fail(where, "must be one line")
            return None
        if max_length is not None and len(value) > max_length:
            self.fail(where, f"must be at most {max_length} characters, got {len(value)}")
            return None
        return value.strip() if one_line else value

    def name(self, where: str, value: Any) -> str | None:
        if not isinstance(value, str):
            hint = "; quote it" if isinstance(value, int | float) else ""
            self.fail(where, f"must be a YAML string, got {_kind(value)}{hint}")
            return None
        if not is_slug(value):
            self.fail(
                where,
                f"{value[:80]!r} is not a valid name (lowercase letters, digits and '-', "
                "at most 63 characters, starting and ending with a letter or digit)",
            )
            return None
        return value

    def url(self, where: str, value: Any) -> str | None:
        text = self.text(where, value, max_length=2000)
        if text is None:
            return None
        parts = urlsplit(text)
        if parts.scheme not in {"http", "https"} or not parts.hostname or " " in text:
            self.fail(where, f"{text[:80]!r} is not an http(s) URL")
            return None
        return text

    def mapping(self, where: str, value: Any, allowed: set[str], required: set[str]) -> bool:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, got {_kind(value)}")
            return False
        ok = True
        for key in sorted(set(value) - allowed):
            self.fail(where, f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})")
            ok = False
        for key in sorted(required - set(value)):
            self.fail(where, f"{key} is required")
            ok = False
        return ok

    def listing(self, where: str, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, f"must be a list, got {_kind(value)}")
            return []
        return value


def _template_glob_problem(pattern: str) -> str | None:
    if not pattern.startswith("templates/") or pattern == "templates/":
        return "must be a path inside templates/"
    try:
        safe_relative_path(pattern)
    except UnsafePath as error:
        return f"must be a safe relative path ({error.reason})"
    if any(char in pattern for char in "[]{}"):
        return "only * , ** and ? wildcards are supported"
    return None


def _components(check: _Checker, raw: Any) -> tuple[Component, ...]:
    components: list[Component] = []
    seen: set[str] = set()
    for index, entry in enumerate(check.listing("components", raw)):
        where = f"components[{index}]"
        if not check.mapping(where, entry, {"name", "templates"}, {"name", "templates"}):
            continue
        name = check.name(f"{where}.name", entry["name"])
        patterns: list[str] = []
        templates = check.listing(f"{where}.templates", entry["templates"])
        if not templates and isinstance(entry["templates"], list):
            check.fail(f"{where}.templates", "must list at least one template path or glob")
        for position, pattern in enumerate(templates):
            spot = f"{where}.templates[{position}]"
            if not isinstance(pattern, str):
                check.fail(spot, f"must be a string, got {_kind(pattern)}")
                continue
            problem = _template_glob_problem(pattern)
            if problem:
                check.fail(spot, f"{pattern[:80]!r} {problem}")
                continue
            patterns.append(pattern)
        if name is None:
            continue
        if name in seen:
            check.fail(f"{where}.name", f"component {name!r} is listed twice")
            continue
        seen.add(name)
        components.append(Component(name=name, templates=tuple(patterns)))
    return tuple(components)


def _dependencies(check: _Checker, raw: Any, own_name: str | None) -> tuple[Dependency, ...]:
    dependencies: list[Dependency] = []
    seen: set[str] = set()
    for index, entry in enumerate(check.listing("dependencies", raw)):
        where = f"dependencies[{index}]"
        if not check.mapping(where, entry, {"name", "version"}, {"name", "version"}):
            continue
        name = check.name(f"{where}.name", entry["name"])
        wanted = entry["version"]
        parsed: Range | None = None
        if not isinstance(wanted, str):
            check.fail(f"{where}.version", f"must be a range string, got {_kind(wanted)}")
        else:
            try:
                parsed = parse_range(wanted)
            except InvalidRange as exc:
                check.fail(f"{where}.version", str(exc))
        if name is None or parsed is None:
            continue
        if name == own_name:
            check.fail(f"{where}.name", "a package cannot depend on itself")
        elif name in seen:
            check.fail(f"{where}.name", f"{name!r} is listed twice")
        else:
            seen.add(name)
            dependencies.append(Dependency(name=name, range=parsed))
    return tuple(dependencies)


def _maintainers(check: _Checker, raw: Any) -> tuple[Maintainer, ...]:
    maintainers: list[Maintainer] = []
    for index, entry in enumerate(check.listing("maintainers", raw)):
        where = f"maintainers[{index}]"
        if not check.mapping(where, entry, {"name", "email", "url"}, {"name"}):
            continue
        name = check.text(f"{where}.name", entry["name"])
        email = None
        if entry.get("email") is not None:
            email = check.text(f"{where}.email", entry["email"], max_length=254)
            if email is not None and not EMAIL_RE.fullmatch(email):
                check.fail(f"{where}.email", f"{email[:80]!r} is not an email address")
                email = None
        url = check.url(f"{where}.url", entry["url"]) if entry.get("url") is not None else None
        if name is not None:
            maintainers.append(Maintainer(name=name, email=email, url=url))
    return tuple(maintainers)


def _keywords(check: _Checker, raw: Any) -> tuple[str, ...]:
    keywords = check.listing("keywords", raw)
    if len(keywords) > KEYWORDS_MAX:
        check.fail("keywords", f"at most {KEYWORDS_MAX} keywords, got {len(keywords)}")
        return ()
    result = []
    for index, keyword in enumerate(keywords):
        text = check.text(f"keywords[{index}]", keyword, max_length=KEYWORD_MAX)
        if text is not None:
            result.append(text)
    return tuple(result)


def manifest_from_data(data: Any) -> Manifest:
    """Check a loaded manifest document against every field rule; raise PackageRefused
    (code manifest_field) listing all problems at once."""
    if not isinstance(data, dict):
        raise PackageRefused(
            "manifest_field", f"manifest.yaml must be a mapping, got {_kind(data)}"
        )
    check = _Checker()
    unknown = sorted(k for k in data if k not in TOP_LEVEL_KEYS and not k.startswith("x-"))
    for key in unknown:
        check.fail(key, "unknown key (extensions must start with 'x-')")
    for key in REQUIRED_KEYS:
        if key not in data or data[key] is None:
            check.fail(key, "is required")

    schema = data.get("schema")
    if "schema" in data and (
        isinstance(schema, bool) or not isinstance(schema, int) or schema != SCHEMA_VERSION
    ):
        check.fail("schema", f"must be {SCHEMA_VERSION}, got {schema!r}"[:120])

    name = check.name("name", data["name"]) if data.get("name") is not None else None

    version: str | None = None
    raw_version = data.get("version")
    if raw_version is not None:
        if not isinstance(raw_version, str):
            check.fail(
                "version",
                f"must be a YAML string, got {_kind(raw_version)}; write it as MAJOR.MINOR.PATCH"
                " and quote it if YAML reads it as a number",
            )
        else:
            try:
                parse_version(raw_version)
                version = raw_version
            except InvalidVersion as exc:
                check.fail("version", str(exc))

    def optional_text(key: str, **kwargs: Any) -> str | None:
        return check.text(key, data[key], **kwargs) if data.get(key) is not None else None

    title = optional_text("title", max_length=TITLE_MAX)
    summary = optional_text("summary", max_length=SUMMARY_MAX)
    description = optional_text("description", max_length=None, one_line=False, allow_empty=True)
    category = optional_text("category", max_length=CATEGORY_MAX)
    if category is not None and not CATEGORY_RE.fullmatch(category):
        check.fail("category", f"{category!r} is not a slug (lowercase words joined by '-')")
    license_ = optional_text("license", max_length=100)
    homepage = check.url("homepage", data["homepage"]) if data.get("homepage") is not None else None
    keywords = _keywords(check, data.get("keywords"))
    maintainers = _maintainers(check, data.get("maintainers"))
    dependencies = _dependencies(check, data.get("dependencies"), name)
    components = _components(check, data.get("components"))

    if check.problems:
        raise PackageRefused("manifest_field", "manifest.yaml: " + "; ".join(check.problems))
    assert name and version and title and summary and category  # guaranteed by the checks
    return Manifest(
        schema=SCHEMA_VERSION,
        name=name,
        version=version,
        title=title,
        summary=summary,
        category=category,
        description=description or "",
        keywords=keywords,
        license=license_,
        homepage=homepage,
        maintainers=maintainers,
        dependencies=dependencies,
        components=components,
        extensions={k: v for k, v in data.items() if k.startswith("x-")},
    )


def parse_manifest(data: bytes | str) -> Manifest:
    """Load manifest.yaml with the strict safe loader and check every field rule."""
    if len(data) > MANIFEST_MAX_BYTES:
        raise PackageRefused(
            "manifest_yaml", f"manifest.yaml is over {MANIFEST_MAX_BYTES // 1024} KiB"
        )
    try:
        document = load_yaml(data)
    except SafeYamlError as exc:
        raise PackageRefused("manifest_yaml", exc.describe("manifest.yaml")) from None
    return manifest_from_data(document)
