"""Rendering a package's templates into Kubernetes manifests for one instance."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from jinja2 import TemplateSyntaxError

from market.package.errors import one_line
from market.package.jinja import make_environment
from market.package.model import Package
from market.package.schema import schema_errors
from market.package.secrets import MASK, mask_secrets

# Rendered output of one instance, all templates together.
MAX_RENDERED_BYTES = 20 * 1024 * 1024

_YamlLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class InstanceContext:
    name: str
    namespace: str
    revision: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "namespace": self.namespace, "revision": self.revision}


class RenderError(Exception):
    """A template failed for these values. ``str()`` is one line naming the template and
    line; secret values never appear in it."""

    def __init__(self, message: str, *, template: str | None = None, line: int | None = None):
        self.template = template
        self.line = line
        self.message = one_line(message)
        super().__init__(self.message)


class ValuesInvalid(RenderError):
    """The merged values do not satisfy values.schema.json; ``errors`` lists them all."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        super().__init__(
            "values do not satisfy values.schema.json: " + "; ".join(errors[:3]) + more
        )


def _copy(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(value) for value in node]
    return node


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: ``override`` on top of ``base``. Mappings merge key by key at every
    depth; anything else (lists, scalars, null) in ``override`` replaces what ``base``
    has. Neither argument is changed."""
    result = _copy(base)
    for key, value in override.items():
        current = result.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = deep_merge(current, value)
        else:
            result[key] = _copy(value)
    return result


def merged_values(package: Package, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """The package defaults with the user's values deep-merged on top."""
    return deep_merge(package.values, values or {})


def validate_values(package: Package, values: Mapping[str, Any] | None) -> list[str]:
    """Every schema error of the user's values merged onto the defaults, one
    ``path: message`` line each (empty when valid or when there is no schema)."""
    return schema_errors(package.values_schema, merged_values(package, values))


def component_templates(package: Package) -> list[tuple[str | None, list[str]]]:
    """Rendered templates grouped by component in manifest order; a template is in the
    first component whose globs match it. Templates of no component come last, under
    ``None``. Paths inside a group are sorted."""
    remaining = package.rendered_templates
    taken: set[str] = set()
    groups: list[tuple[str | None, list[str]]] = []
    for component in package.manifest.components:
        paths = [p for p in remaining if p not in taken and component.matches(p)]
        taken.update(paths)
        groups.append((component.name, paths))
    rest = [p for p in remaining if p not in taken]
    if rest:
        groups.append((None, rest))
    return groups


def secret_strings(values: dict[str, Any], secret_paths: list[str]) -> list[str]:
    """Every secret value as a string, longest first: what masking must remove from text."""
    found: list[str] = []

    def walk(real: Any, masked: Any) -> None:
        if isinstance(real, Mapping) and isinstance(masked, Mapping):
            for key, value in real.items():
                walk(value, masked.get(key))
        elif isinstance(real, list) and isinstance(masked, list):
            for value, other in zip(real, masked, strict=False):
                walk(value, other)
        elif masked == MASK and real != MASK:
            if isinstance(real, Mapping | list):
                found.extend(str(leaf) for leaf in _leaves(real))
            else:
                found.append(str(real))

    walk(values, mask_secrets(values, secret_paths))
    # Longest first, so that a secret containing another is replaced whole.
    return sorted({s for s in found if s}, key=len, reverse=True)


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, Mapping):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    if isinstance(node, list):
        return [leaf for value in node for leaf in _leaves(value)]
    return [node]


def _where(exc: BaseException, templates: Mapping[str, str]) -> tuple[str | None, int | None]:
    """The innermost template frame of a traceback (Jinja maps frames to template lines)."""
    if isinstance(exc, TemplateSyntaxError) and exc.name in templates:
        return exc.name, exc.lineno
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in templates:
            return frame.filename, frame.lineno
    return None, None


def _render_error(
    path: str, exc: BaseException, templates: Mapping[str, str], secrets: list[str]
) -> RenderError:
    where, line = _where(exc, templates)
    where = where or path
    detail = str(exc) if isinstance(exc, Exception) and str(exc) else type(exc).__name__
    if not type(exc).__module__.startswith("jinja2"):
        detail = f"{type(exc).__name__}: {detail}"
    if isinstance(exc, RecursionError):
        detail = "recursion too deep"
    for secret in secrets:
        detail = detail.replace(secret, MASK)
    location = f"{where} line {line}" if line else where
    if where != path:
        location += f" (included from {path})"
    return RenderError(f"{location}: {detail}", template=where, line=line)


def render_templates(
    package: Package,
    *,
    values: Mapping[str, Any] | None,
    instance: InstanceContext,
    resources: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Render every manifest template for one instance, in apply order.

    Steps: merge the user's values onto the defaults and check them against the schema
    (ValuesInvalid lists every problem); build the context ``values``, ``instance``,
    ``app`` and ``resources``; render component by component (component_templates);
    check that each output is YAML. Any failure is a RenderError naming the template
    and line. The result maps template path to rendered text, in apply order.
    """
    merged = merged_values(package, values)
    problems = schema_errors(package.values_schema, merged)
    if problems:
        raise ValuesInvalid(problems)
    secrets = secret_strings(merged, package.secret_paths())
    context = {
        "values": merged,
        "instance": instance.as_dict(),
        "app": {"name": package.manifest.name, "version": package.manifest.version},
        "resources": _copy(dict(resources or {})),
    }
    env = make_environment(package.templates)
    rendered: dict[str, str] = {}
    total = 0
    for _component, paths in component_templates(package):
        for path in paths:
            chunks: list[str] = []
            try:
                for chunk in env.get_template(path).generate(context):
                    total += len(chunk)
                    if total > MAX_RENDERED_BYTES:
                        raise RenderError(
                            f"{path}: rendered output is over {MAX_RENDERED_BYTES} characters",
                            template=path,
                        )
                    chunks.append(chunk)
            except RenderError:
                raise
            except (Exception, RecursionError) as exc:
                # Template code can raise anything a Python expression can; each one is
                # this template's failure, reported on one line, not a crash.
                raise _render_error(path, exc, package.templates, secrets) from None
            text = "".join(chunks)
            _check_yaml(path, text)
            rendered[path] = text
    return rendered


def _check_yaml(path: str, text: str) -> None:
    try:
        for _document in yaml.load_all(text, Loader=_YamlLoader):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = "; ".join(part for part in (exc.context, exc.problem) if part)
        where = f"{path} line {line}" if line else path
        raise RenderError(
            f"{where}: rendered output is not valid YAML: {problem}", template=path, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise RenderError(
            f"{path}: rendered output is not valid YAML: {exc}", template=path
        ) from None
