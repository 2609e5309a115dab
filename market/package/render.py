"""Rendering a package's templates into Kubernetes manifests for one instance."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml
from jinja2 import ChainableUndefined, TemplateSyntaxError

from market.package.errors import PackageRefused, one_line
from market.package.jinja import make_environment
from market.package.model import Package
from market.package.render_limits import RenderLimitExceeded, RenderLimits, run_limited
from market.package.render_server import run_served
from market.package.schema import schema_errors
from market.package.secrets import MASK, mask_secrets

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


@dataclass(frozen=True)
class RenderedTemplates:
    manifests: dict[str, str]  # template path -> text, in apply order
    masked: dict[str, str]  # the same, rendered with the mask in place of every secret


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
    ``app`` and ``resources``; render component by component (component_templates),
    in a child process under the render limits (RenderLimitExceeded past one); check
    that each output is YAML. Any other failure is a RenderError naming the template
    and line. The result maps template path to rendered text, in apply order.
    """
    return _render(package, values=values, instance=instance, resources=resources).manifests


def render_templates_masked(
    package: Package,
    *,
    values: Mapping[str, Any] | None,
    instance: InstanceContext,
    resources: Mapping[str, Any] | None = None,
) -> RenderedTemplates:
    """render_templates, plus the copy users may see: the same templates rendered again
    with the mask in place of every ``writeOnly`` value (SPEC section 11). Masking the
    real output by value cannot work: a template may show a secret encoded, reversed,
    joined or as a key. A template that does not render with the mask (arithmetic on
    a secret) shows one comment line in the copy instead."""
    return _render(package, values=values, instance=instance, resources=resources, masked_copy=True)


def check_render_limits(package: Package) -> None:
    """Publish-time trial render with the default values; PackageRefused
    ``render_limit`` when a render limit is reached. Names the defaults leave out
    (a required password, ``resources``, which a build profile gives at install)
    render empty here so that the rest of each template runs too; any other failure
    is for an install to report, with real values."""
    merged = merged_values(package, None)
    instance = InstanceContext(name=package.manifest.name, namespace="publish-check", revision=1)
    context = _context(package, merged, instance, None)
    context.pop("resources")
    limits = RenderLimits.from_settings()
    try:
        run_limited(
            lambda: _render_all(package, context, limits, secrets=[], lenient=True),
            limits=limits,
        )
    except RenderLimitExceeded as exc:
        raise PackageRefused(
            "render_limit", f"rendering the templates with the default values: {exc}"
        ) from None
    except RenderError:
        pass


def _context(
    package: Package,
    values: dict[str, Any],
    instance: InstanceContext,
    resources: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        "values": values,
        "instance": instance.as_dict(),
        "app": {"name": package.manifest.name, "version": package.manifest.version},
        "resources": _copy(dict(resources or {})),
    }


def _render(
    package: Package,
    *,
    values: Mapping[str, Any] | None,
    instance: InstanceContext,
    resources: Mapping[str, Any] | None,
    masked_copy: bool = False,
) -> RenderedTemplates:
    merged = merged_values(package, values)
    problems = schema_errors(package.values_schema, merged)
    if problems:
        raise ValuesInvalid(problems)
    paths = package.secret_paths()
    secrets = secret_strings(merged, paths)
    context = _context(package, merged, instance, resources)
    masked_context = _context(package, mask_secrets(merged, paths), instance, resources)
    limits = RenderLimits.from_settings()
    # Only what rendering reads crosses to the render child: no docs, icon or files.
    templates_only = replace(package, files={}, docs={}, readme=None, icon=None)
    return run_served(
        _render_both,
        templates_only,
        context,
        masked_context if masked_copy else None,
        limits,
        secrets,
        limits=limits,
    )


def _render_both(
    package: Package,
    context: dict[str, Any],
    masked_context: dict[str, Any] | None,
    limits: RenderLimits,
    secrets: list[str],
) -> RenderedTemplates:
    """Runs in the render child: the manifests, and the masked copy when asked."""
    manifests = _render_all(package, context, limits, secrets=secrets)
    if masked_context is None:
        return RenderedTemplates(manifests=manifests, masked={})
    masked = _render_all(package, masked_context, limits, secrets=secrets, masked=True)
    return RenderedTemplates(manifests=manifests, masked=masked)


def _render_all(
    package: Package,
    context: dict[str, Any],
    limits: RenderLimits,
    *,
    secrets: list[str],
    masked: bool = False,
    lenient: bool = False,
) -> dict[str, str]:
    """Runs in run_limited's child. A masked render is not checked as YAML (the mask
    on its own reads as a YAML alias) and a template failing there shows as a comment."""
    env = make_environment(package.templates, undefined=ChainableUndefined if lenient else None)
    rendered: dict[str, str] = {}
    total = 0
    for _component, paths in component_templates(package):
        for path in paths:
            chunks: list[str] = []
            try:
                for chunk in env.get_template(path).generate(context):
                    total += len(chunk) if chunk.isascii() else len(chunk.encode("utf-8"))
                    if total > limits.max_bytes:
                        raise RenderLimitExceeded(
                            f"{path}: the rendered output is over {limits.max_bytes} bytes"
                        )
                    chunks.append(chunk)
            except (RenderLimitExceeded, MemoryError):
                raise
            except (Exception, RecursionError) as exc:
                # Template code can raise anything a Python expression can; each one is
                # this template's failure, reported on one line, not a crash.
                if masked:
                    rendered[path] = (
                        f"# {path}: not shown, it does not render with secrets masked\n"
                    )
                    continue
                raise _render_error(path, exc, package.templates, secrets) from None
            text = "".join(chunks)
            if not masked:
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
