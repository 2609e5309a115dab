"""The one Jinja2 environment package templates are parsed and rendered with.

Sandboxed and immutable (a template cannot call unsafe attributes nor change the values
it is given), undefined names are errors, no autoescaping (the output is YAML, not
HTML). Templates may ``{% include %}`` / ``{% import %}`` each other by package path
(``templates/_helpers.j2``) and nothing else.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import yaml
from jinja2 import BaseLoader, StrictUndefined, TemplateNotFound, Undefined, nodes
from jinja2.bccache import Bucket, BytecodeCache
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Environment
from jinja2.sandbox import ImmutableSandboxedEnvironment

from market.package.render_limits import RenderLimitExceeded
from market.package.secrets import MASK

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


class _CompiledTemplates(BytecodeCache):
    """Compiled template code by (template path, sha1 of its source), in memory.

    Compiling is most of a render's cost for small templates, and the same package
    versions are rendered over and over (every install, upgrade and preview). The
    code depends on the source and on this module's one environment setup only, so
    sharing it between packages with an identical template is safe; no rendered
    value is ever stored. Bounded; least recently used first out."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._codes: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._codes.get((bucket.key, bucket.checksum))
            if code is not None:
                self._codes.move_to_end((bucket.key, bucket.checksum))
                bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            self._codes[(bucket.key, bucket.checksum)] = bucket.code
            while len(self._codes) > self._max:
                self._codes.popitem(last=False)


_COMPILED = _CompiledTemplates(max_entries=2048)


class _NoFoldingCodeGenerator(CodeGenerator):
    """Compiles without evaluating any template expression.

    Jinja folds constant expressions while compiling (its optimizer, and every
    ``{{ ... }}`` it can turn into text, and ``{% autoescape expr %}``), outside the
    sandbox and outside any render limit: ``{{ "ab" * 10**8 }}`` took 1.1 GB just to
    compile. Here only literal text and literals are written as constants; everything
    else is evaluated when rendering, under market.package.render_limits. (Python's
    own compiler folds constants too, but refuses results over a few KiB.)"""

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        if not isinstance(node, nodes.TemplateData | nodes.Const):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def visit_EvalContextModifier(self, node: nodes.EvalContextModifier, frame: Frame) -> None:
        for keyword in node.options:
            if not isinstance(keyword.value, nodes.Const):
                self.fail("autoescape takes a literal true or false here", node.lineno)
        super().visit_EvalContextModifier(node, frame)


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip("\n")


def _b64encode(value: Any) -> str:
    if value == MASK:
        # The masked copy of a manifest is rendered with the mask in place of each
        # secret (workflow.rendering): show it as the mask, not as its base64 form.
        return MASK
    data = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def _quote(value: Any) -> str:
    # A JSON string is a valid double-quoted YAML scalar.
    return json.dumps(str(value), ensure_ascii=False)


# The largest integer power a template may compute: Python refuses to print an int of
# more than 4,300 digits anyway, so anything larger is only a way to burn CPU.
MAX_POWER_BITS = 4300 * 4


class _PackageEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _NoFoldingCodeGenerator
    # Intercepted operators are also never folded at compile time (nodes.BinExpr).
    intercepted_binops = frozenset({"**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * math.log2(abs(left)) > MAX_POWER_BITS
        ):
            # Refused before computing: 7 ** (4 * 10**6) is 6 s in one C call.
            raise RenderLimitExceeded(f"a power of over {MAX_POWER_BITS} bits")
        return super().call_binop(context, operator, left, right)


def make_environment(
    templates: Mapping[str, str], *, undefined: type[Undefined] | None = None
) -> ImmutableSandboxedEnvironment:
    """``undefined``: StrictUndefined (the package contract) unless a trial render
    asks for a lenient one."""
    env = _PackageEnvironment(
        loader=_PackageLoader(templates),
        undefined=undefined or StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        optimized=False,  # the optimizer folds constants: see _NoFoldingCodeGenerator
        bytecode_cache=_COMPILED,
    )
    env.filters.update(to_yaml=_to_yaml, b64encode=_b64encode, quote=_quote)
    return env
