"""The one Jinja2 environment package templates are parsed and rendered with.

Sandboxed and immutable (a template cannot call unsafe attributes nor change the values
it is given), undefined names are errors, no autoescaping (the output is YAML, not
HTML). Templates may ``{% include %}`` / ``{% import %}`` each other by package path
(``templates/_helpers.j2``) and nothing else.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound
from jinja2.environment import Environment
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES_DIR = "templates/"
RENDERED_SUFFIXES = (".yaml", ".yml")


def is_rendered_template(path: str) -> bool:
    """Whether a package path is a manifest template, rendered and applied: a .yaml/.yml
    file under templates/ whose name does not start with ``_`` (a partial, as in Helm)."""
    basename = path.rsplit("/", 1)[-1]
    return (
        path.startswith(TEMPLATES_DIR)
        and path.endswith(RENDERED_SUFFIXES)
        and not basename.startswith("_")
    )


class _PackageLoader(BaseLoader):
    def __init__(self, templates: Mapping[str, str]) -> None:
        self.templates = templates

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template not in self.templates:
            raise TemplateNotFound(template)
        # The file name is the package path so that tracebacks name it.
        return self.templates[template], template, lambda: True


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


def _b64encode(value: Any) -> str:
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def _quote(value: Any) -> str:
    # A JSON string is a valid double-quoted YAML scalar.
    return json.dumps(str(value), ensure_ascii=False)


def make_environment(templates: Mapping[str, str]) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=_PackageLoader(templates),
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters.update(to_yaml=_to_yaml, b64encode=_b64encode, quote=_quote)
    return env
