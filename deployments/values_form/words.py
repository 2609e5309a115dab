"""Plain words for what a values schema asks: labels for keys, formats and patterns
("a duration like 60s"), and sentences for the ways a value breaks the schema.

A user should never read a regular expression or a jsonschema message on the install
form: a pattern this module does not recognise is "the format this app expects", and a
problem it cannot put into words says which setting and that the app refuses it. No
sentence here quotes the value itself (it may be a secret): only the limits the schema
states and the label of the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from market.package.schema import SchemaProblem

_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|[_\-\s]+")
# Words that read wrong in sentence case.
_ACRONYMS: Final = {
    "api": "API",
    "cpu": "CPU",
    "dns": "DNS",
    "http": "HTTP",
    "https": "HTTPS",
    "id": "ID",
    "ip": "IP",
    "json": "JSON",
    "s3": "S3",
    "slo": "SLO",
    "smtp": "SMTP",
    "tls": "TLS",
    "ttl": "TTL",
    "url": "URL",
    "urls": "URLs",
    "uri": "URI",
}


def humanise(key: str) -> str:
    """``maxBodyBytes`` -> "Max body bytes", ``tls_ca`` -> "TLS ca"."""
    words = [word for word in _WORD_BREAK.split(key) if word]
    if not words:
        return key
    shown = [_ACRONYMS.get(w.lower(), w if w.isupper() else w.lower()) for w in words]
    first = shown[0]
    shown[0] = first if first.isupper() or first in _ACRONYMS.values() else first.capitalize()
    return " ".join(shown)


def label_for(node: Mapping[str, Any], key: str) -> str:
    """The schema's ``title``, else the key in words."""
    title = node.get("title")
    return title.strip() if isinstance(title, str) and title.strip() else humanise(key)


_TIME_UNITS: Final = {"ms": "ms", "s": "s", "m": "m", "h": "h", "d": "d"}
_SIZE_UNITS: Final = frozenset(
    {"ki", "mi", "gi", "ti", "k", "m", "g", "kb", "mb", "gb", "tb", "b", "kib", "mib", "gib"}
)
_UNIT_PATTERN = re.compile(r"^\^\[0-9\]\+\(?(?P<units>[A-Za-z|]+|\[[A-Za-z]+\])\)?\$$")
_DNS_LABEL = re.compile(r"^\^\[a-z0-9\]\(\[a-z0-9-\]\{0,(?P<inner>\d+)\}\[a-z0-9\]\)\?\$$")
_EXAMPLES: Final = {"ms": "500ms", "s": "60s", "m": "5m", "h": "1h", "d": "7d"}

# Patterns seen in real schemas, recognised by their exact text.
_KNOWN: Final[dict[str, str]] = {
    "^https?://": "a URL starting with http:// or https://",
    "^https?://[^/\\s]+$": "a base URL like https://host.example.org, without a path",
    "^(https?://.+)?$": "an http:// or https:// URL, or empty",
    "^(https?://[^\\s]+)?$": "an http:// or https:// URL, or empty",
    "^(https://.+)?$": "an https:// URL, or empty",
    "^(https://|ssh://).+": "a repository URL starting with https:// or ssh://",
    "^[a-z0-9.-]+:[0-9]+$": "a host and port like redis.example.svc:6379",
    "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?:[0-9]{1,5}$": "a host and port like redis.example.svc:6379",
    "^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$": "a host name: lowercase letters, digits, dots and dashes",
    "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$": "a host name: lowercase letters, digits, dots and dashes",
    "^\\S+ \\S+ \\S+ \\S+ \\S+$": "a cron schedule of five fields, like 0 3 * * *",
    "^[a-z][a-z0-9_]*$": "lowercase letters, digits and underscores, starting with a letter",
    "^[A-Za-z_][A-Za-z0-9_]*$": "letters, digits and underscores, not starting with a digit",
    "^[A-Za-z0-9_-]+$": "letters, digits, underscores and dashes",
    "^[a-zA-Z0-9._/-]+$": "letters, digits, dots, dashes, underscores and slashes",
    "^[a-z0-9][a-z0-9_-]*$": "lowercase letters, digits, underscores and dashes",
    "^[a-z0-9][a-z0-9-]*$": "lowercase letters, digits and dashes",
    "^[a-z0-9-]+$": "lowercase letters, digits and dashes",
    "^[a-z0-9]+(-[a-z0-9]+)*$": "lowercase words joined by dashes",
    "^[a-z0-9][a-z0-9/_-]*$": "lowercase letters, digits, slashes, underscores and dashes",
    "^([a-z0-9._-]+(/[a-z0-9._-]+)*)?$": "a path of lowercase parts joined by /, or empty",
    "^[^\\n]+$": "one line of text, not empty",
    "^/": "a path starting with /",
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})$": (
        "a date and time like 2024-05-01T02:00:00Z"
    ),
    "^([0-9]{1,2}|100)%$": "a percentage like 80%",
    "^now-[0-9]+[mhd]$": "a time back from now, like now-6h",
}

_FORMATS: Final[dict[str, str]] = {
    "date-time": "a date and time like 2024-05-01T02:00:00Z",
    "date": "a date like 2024-05-01",
    "time": "a time like 02:00:00Z",
    "duration": "an ISO 8601 duration like PT30M",
    "email": "an e-mail address like ops@example.org",
    "idn-email": "an e-mail address like ops@example.org",
    "hostname": "a host name like db.example.org",
    "idn-hostname": "a host name like db.example.org",
    "ipv4": "an IPv4 address like 10.0.0.1",
    "ipv6": "an IPv6 address like fd00::1",
    "uri": "a URL like https://example.org/path",
    "iri": "a URL like https://example.org/path",
    "uri-reference": "a URL or a path",
    "uuid": "a UUID like 3f2b6c1e-8a4d-4b7e-9c1a-2d5e6f7a8b9c",
    "regex": "a regular expression",
}


def _unit_words(units: Sequence[str], default: Any) -> str | None:
    lowered = [unit.lower() for unit in units]
    fits = "[0-9]+(" + "|".join(re.escape(unit) for unit in units) + ")"
    example = default if isinstance(default, str) and re.fullmatch(fits, default) else ""
    if all(unit in _TIME_UNITS for unit in units):
        example = example or _EXAMPLES[units[0]]
        return f"a duration like {example} (units: {', '.join(units)})"
    if all(unit in _SIZE_UNITS for unit in lowered):
        example = example or f"512{units[0]}"
        return f"a size like {example} (units: {', '.join(units)})"
    return None


def pattern_words(pattern: str, default: Any = None) -> str | None:
    """The pattern in words, or None when it is not one this module knows."""
    if pattern in _KNOWN:
        return _KNOWN[pattern]
    units = _UNIT_PATTERN.match(pattern)
    if units:
        text = units["units"]
        parts = list(text.strip("[]")) if text.startswith("[") else text.split("|")
        return _unit_words(parts, default)
    label = _DNS_LABEL.match(pattern)
    if label:
        longest = int(label["inner"]) + 2
        return (
            f"a name of lowercase letters, digits and dashes, at most {longest} characters,"
            " starting and ending with a letter or digit"
        )
    return None


def format_hint(node: Mapping[str, Any]) -> str:
    """One sentence for a string's ``format`` and ``pattern``; "" when it has neither."""
    fmt, pattern = node.get("format"), node.get("pattern")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return f"Enter {_FORMATS[fmt]}."
    if isinstance(pattern, str):
        words = pattern_words(pattern, node.get("default"))
        return f"Enter {words}." if words else "Must be in the format this app expects."
    return ""


_TYPES: Final = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a group of settings",
    "null": "empty",
}


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _number(value: Any) -> str:
    return str(value)


def _choices(values: Any) -> str:
    if not isinstance(values, list):
        return "one of the listed choices"
    shown = [str(value) if isinstance(value, str) else repr(value) for value in values[:12]]
    more = " …" if len(values) > 12 else ""
    return "one of: " + ", ".join(shown) + more


def _unexpected(message: str) -> str:
    # The keys of an additionalProperties problem: keys, never values.
    found = re.search(r"\((?P<keys>.*) (?:was|were) unexpected\)", message)
    return f" ({found['keys']})" if found else ""


# Numeric limits, each said as "must be <words> <number>".
_BOUNDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "more than",
    "exclusiveMaximum": "less than",
    "multipleOf": "a multiple of",
}


def problem_words(problem: SchemaProblem, label: str, node: Mapping[str, Any]) -> str:
    """``problem`` as a sentence about the field labelled ``label`` whose schema is
    ``node``. Never quotes the value."""
    keyword, expected = problem.validator, problem.expected
    if keyword == "required":
        return f"{label} is required."
    if keyword == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return f"{label} must be {_or([_TYPES.get(str(kind), str(kind)) for kind in kinds])}."
    if keyword in _BOUNDS:
        return f"{label} must be {_BOUNDS[keyword]} {_number(expected)}."
    if keyword == "enum":
        return f"{label} must be {_choices(expected)}."
    if keyword == "const":
        return (
            f"{label} must be {expected!r}."
            if not isinstance(expected, str)
            else (f"{label} must be {expected}.")
        )
    if keyword == "pattern":
        words = pattern_words(str(expected), node.get("default"))
        return (
            f"{label} must be {words}."
            if words
            else (f"{label} is not in the format this app expects.")
        )
    if keyword == "format":
        words = _FORMATS.get(str(expected))
        return f"{label} must be {words}." if words else f"{label} must be a valid {expected}."
    if keyword == "minLength":
        if expected == 1:
            return f"{label} cannot be empty."
        return f"{label} must be at least {expected} characters long."
    if keyword == "maxLength":
        return f"{label} must be at most {expected} characters long."
    if keyword == "minItems":
        if expected == 1:
            return f"{label} needs at least one item."
        return f"{label} needs at least {expected} items."
    if keyword == "maxItems":
        return f"{label} takes at most {expected} items."
    if keyword == "uniqueItems":
        return f"{label} lists the same item more than once."
    if keyword == "minProperties":
        return f"{label} needs at least {expected} entries."
    if keyword == "maxProperties":
        return f"{label} takes at most {expected} entries."
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        return f"{label} has settings this app does not know{_unexpected(problem.message)}."
    if keyword in ("oneOf", "anyOf"):
        return f"{label} does not match any of the shapes this app accepts."
    if keyword == "nul":
        return f"{label} contains a NUL character, which is not allowed."
    if keyword == "unusable":
        return f"This app's values schema cannot be checked: {problem.message}."
    return f"{label} is not accepted by this app's schema ({keyword})."


def path_words(path: Sequence[str]) -> str:
    """``("patterns", "0", "name")`` -> "item 1 > Name" (for the part of a path below a
    field)."""
    shown = [f"item {int(key) + 1}" if key.isdigit() else humanise(key) for key in path]
    return " > ".join(shown)
