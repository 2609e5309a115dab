"""values.yaml and values.schema.json: loading and checking install parameters."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import re2
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema_specifications import REGISTRY as SPECIFICATIONS
from referencing.exceptions import Unresolvable

from market.package.errors import PackageRefused, one_line
from market.package.safe_yaml import SafeYamlError, load_yaml
from market.package.secrets import secret_paths

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
VALUES_MAX_BYTES = 1024 * 1024
SCHEMA_MAX_BYTES = 1024 * 1024
MESSAGE_MAX = 200


def load_values(data: bytes | None) -> dict[str, Any]:
    """Default values: a mapping (an empty file means none), strict safe YAML."""
    if data is None:
        return {}
    if len(data) > VALUES_MAX_BYTES:
        raise PackageRefused("values_yaml", f"values.yaml is over {VALUES_MAX_BYTES // 1024} KiB")
    try:
        document = load_yaml(data)
    except SafeYamlError as exc:
        raise PackageRefused("values_yaml", exc.describe("values.yaml")) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise PackageRefused("values_yaml", "values.yaml must be a mapping at the top level")
    return document


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_values_schema(data: bytes | None) -> dict[str, Any] | None:
    """values.schema.json: strict JSON (no duplicate keys, no NaN), an object, a valid
    draft 2020-12 schema."""
    if data is None:
        return None
    if len(data) > SCHEMA_MAX_BYTES:
        raise PackageRefused(
            "values_schema_invalid", f"values.schema.json is over {SCHEMA_MAX_BYTES // 1024} KiB"
        )
    try:
        schema = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_refuse_duplicates,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PackageRefused(
            "values_schema_invalid", f"values.schema.json is not valid JSON: {exc}"
        ) from None
    if not isinstance(schema, dict):
        raise PackageRefused("values_schema_invalid", "values.schema.json must be a JSON object")
    declared = schema.get("$schema", DRAFT_2020_12)
    if not isinstance(declared, str) or declared.rstrip("#") != DRAFT_2020_12:
        raise PackageRefused(
            "values_schema_invalid",
            f"values.schema.json: $schema must be {DRAFT_2020_12} (draft 2020-12)",
        )
    unmatchable = _first_unmatchable_pattern(schema)
    if unmatchable is not None:
        raise PackageRefused(
            "values_schema_invalid",
            f"values.schema.json: pattern '{unmatchable[:100]}' cannot be matched in linear "
            "time (RE2 has no backreferences or lookaround)",
        )
    outside = _first_outside_ref(schema)
    if outside is not None:
        raise PackageRefused(
            "values_schema_invalid",
            f"values.schema.json: $ref {outside[:100]!r} points outside the schema; "
            "only local references (#/...) are allowed",
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "(root)"
        raise PackageRefused(
            "values_schema_invalid",
            f"values.schema.json is not a valid JSON Schema at {where}: {exc.message}",
        ) from None
    except RecursionError:
        raise PackageRefused(
            "values_schema_invalid", "values.schema.json is nested too deeply"
        ) from None
    return schema


def _first_outside_ref(node: Any, depth: int = 0) -> str | None:
    """The first $ref/$dynamicRef that is not a local "#..." reference."""
    if depth > 200:
        return None
    if isinstance(node, dict):
        for key, value in node.items():
            is_ref = key in {"$ref", "$dynamicRef"} and isinstance(value, str)
            if is_ref and not value.startswith("#"):
                return str(value)
            found = _first_outside_ref(value, depth + 1)
            if found is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _first_outside_ref(value, depth + 1)
            if found is not None:
                return found
    return None


# Patterns are matched by RE2, in time linear in the input: Python's backtracking re
# takes 2**n steps for ^(a+)+$ against "a" * n + "!", at publish and at install.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # an unsupported pattern is our refusal, not a log line


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> Any:
    """The RE2 program for a pattern; re2.error when RE2 cannot run it."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _matches(pattern: str, text: str) -> bool:
    return _compiled(pattern).search(text) is not None


def _first_unmatchable_pattern(node: Any, depth: int = 0) -> str | None:
    """The first ``pattern`` or ``patternProperties`` key RE2 cannot compile. Every
    dict is looked at: a pattern under an unknown keyword is never used, and checking
    it costs nothing."""
    if depth > 200:
        return None
    if isinstance(node, dict):
        candidates = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        if isinstance(node.get("patternProperties"), dict):
            candidates += list(node["patternProperties"])
        for pattern in candidates:
            try:
                _compiled(pattern)
            except re2.error:
                return str(pattern)
        children: Iterable[Any] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _first_unmatchable_pattern(child, depth + 1)
        if found is not None:
            return found
    return None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _matches(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _matches(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    # jsonschema's own, with patternProperties matched by RE2.
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        key
        for key in instance
        if key not in properties and not any(_matches(p, key) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        joined = ", ".join(repr(each) for each in sorted(extras))
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            shown = ", ".join(repr(each) for each in sorted(patterns))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {shown}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(
                f"Additional properties are not allowed ({joined} {verb} unexpected)"
            )


_LinearValidator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    },
)


class SchemaUnusable(Exception):
    """The schema cannot be evaluated (a reference it does not define, too deep)."""


def _validator(schema: Mapping[str, Any]) -> Any:
    # Only the JSON Schema meta-schemas are known: a "$ref" to anywhere else is an
    # error, never an HTTP request from the portal.
    return _LinearValidator(schema, registry=SPECIFICATIONS)


# Validators whose messages name keys but never quote the instance.
_QUOTE_FREE = frozenset({"required", "additionalProperties", "dependentRequired"})


def _secret_matchers(schema: Mapping[str, Any]) -> list[list[str]]:
    return [path.split(".") for path in secret_paths(schema)]


def _holds_secret(path: list[str], secrets: list[list[str]]) -> bool:
    """Whether the value at ``path`` is a secret or contains one."""
    for secret in secrets:
        if len(path) <= len(secret) and all(
            want in ("*", got) for want, got in zip(secret, path, strict=False)
        ):
            return True
    return False


@dataclass(frozen=True)
class SchemaProblem:
    """One way values break a schema. ``validator`` is the JSON Schema keyword that
    failed (``required``, ``minimum``, ...; ``nul`` and ``unusable`` for our own checks),
    ``expected`` that keyword's value in the schema, ``key`` the missing property of a
    ``required`` problem. None of them ever holds the value itself, so callers may put
    them into words for the user without quoting a secret; ``message`` is the
    validator's own line, secret-safe as well."""

    path: tuple[str, ...]
    validator: str
    expected: Any
    message: str
    key: str = ""

    @property
    def line(self) -> str:
        return f"{'.'.join(self.path) or '(root)'}: {self.message}"


_REQUIRED_KEY = re.compile(r"""^(['"])(?P<key>.*)\1 is a required property$""")


def _schema_problems(
    schema: Mapping[str, Any], values: Any, *, skip_required: bool
) -> list[SchemaProblem]:
    secrets = _secret_matchers(schema)
    problems: list[SchemaProblem] = []
    try:
        for error in _validator(schema).iter_errors(values):
            if skip_required and error.validator == "required":
                continue
            parts = [str(part) for part in error.absolute_path]
            if error.validator not in _QUOTE_FREE and _holds_secret(parts, secrets):
                message = f"secret value does not satisfy {error.validator}"
                if isinstance(error.validator_value, int | float | str) and not isinstance(
                    error.validator_value, bool
                ):
                    message += f" {error.validator_value}"
            else:
                message = one_line(error.message, MESSAGE_MAX)
            required = _REQUIRED_KEY.match(error.message) if error.validator == "required" else None
            problems.append(
                SchemaProblem(
                    path=tuple(parts),
                    validator=str(error.validator),
                    expected=error.validator_value,
                    message=message,
                    key=required["key"] if required else "",
                )
            )
    except Unresolvable as exc:
        raise SchemaUnusable(f"the schema refers to something it does not define: {exc}") from None
    except RecursionError:
        raise SchemaUnusable("the schema or the values are nested too deeply") from None
    return sorted(problems, key=lambda problem: (list(problem.path), problem.line))


def _schema_errors(schema: Mapping[str, Any], values: Any, *, skip_required: bool) -> list[str]:
    return [p.line for p in _schema_problems(schema, values, skip_required=skip_required)]


def schema_problems(schema: Mapping[str, Any] | None, values: Any) -> list[SchemaProblem]:
    """schema_errors as SchemaProblem records, in the same order: for pages that put
    each problem into words beside its field."""
    nuls = [
        SchemaProblem(
            path=tuple(path.split(".")) if path != "(root)" else (),
            validator="nul",
            expected=None,
            message=message,
        )
        for path, _, message in (line.partition(": ") for line in nul_errors(values))
    ]
    if schema is None:
        return nuls
    try:
        found = _schema_problems(schema, values, skip_required=False)
    except SchemaUnusable as exc:
        return [
            *nuls,
            SchemaProblem(path=(), validator="unusable", expected=None, message=str(exc)),
        ]
    return sorted(nuls + found, key=lambda problem: _by_path(problem.line))


def schema_errors(
    schema: Mapping[str, Any] | None, values: Any, *, skip_required: bool = False
) -> list[str]:
    """Every way ``values`` breaks ``schema``, one ``path: message`` line each, sorted by
    path. A message about a value that is or holds a secret (writeOnly) never quotes it.
    NUL characters are refused with or without a schema (``nul_errors``)."""
    nuls = nul_errors(values)
    if schema is None:
        return nuls
    try:
        return sorted(
            nuls + _schema_errors(schema, values, skip_required=skip_required), key=_by_path
        )
    except SchemaUnusable as exc:
        return [*nuls, f"(root): {exc}"]


def _by_path(line: str) -> tuple[list[str], str]:
    # By path segments, so "database: ..." sorts before "database.host: ..." ('.' < ':').
    path, _, message = line.partition(": ")
    return path.split("."), message


def nul_errors(values: Any) -> list[str]:
    """One line per key or string holding a NUL character. Rendered manifests, git
    and PostgreSQL's text all mishandle NUL (truncated, refused, or an error at
    deploy time), so it is refused here, where every values path is validated.
    The line names the path only: the value may be a secret. Iterative, so deep
    values cannot exhaust the stack."""
    problems: list[str] = []
    stack: list[tuple[list[str], Any]] = [([], values)]
    while stack:
        path, node = stack.pop()
        where = ".".join(path) or "(root)"
        if isinstance(node, Mapping):
            for key, child in node.items():
                if "\x00" in str(key):
                    problems.append(f"{where}: a key contains a NUL character")
                stack.append(([*path, str(key).replace("\x00", "")], child))
        elif isinstance(node, list):
            stack.extend(([*path, str(i)], child) for i, child in enumerate(node))
        elif isinstance(node, str) and "\x00" in node:
            problems.append(f"{where}: contains a NUL character, which is not allowed")
    return sorted(problems, key=_by_path)


def check_default_values(schema: Mapping[str, Any] | None, values: dict[str, Any]) -> None:
    """Refuse defaults that break the schema. A missing required property is not a
    refusal: the user supplies it at install (a password has no sensible default)."""
    if schema is None:
        return
    try:
        problems = _schema_errors(schema, values, skip_required=True)
    except SchemaUnusable as exc:
        raise PackageRefused("values_schema_invalid", f"values.schema.json: {exc}") from None
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise PackageRefused(
            "values_schema", f"values.yaml does not satisfy values.schema.json: {shown}{more}"
        )
