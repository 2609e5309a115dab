"""A YAML loader for untrusted package files (manifest.yaml, values.yaml).

It accepts the JSON-like core of YAML and nothing else:

- no anchors or aliases (no "billion laughs", no hidden sharing);
- no tags beyond str, int, float, bool, null, seq and map, whether written (``!foo``,
  ``!!python/object``) or implied (``<<`` merge keys); dates stay strings;
- no duplicate keys, and keys are strings, so the result is always valid JSON;
- no NaN or infinite floats, no nesting deeper than MAX_DEPTH, one document only.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

MAX_DEPTH = 64

_CORE = "tag:yaml.org,2002:"
ALLOWED_TAGS = frozenset(
    _CORE + name for name in ("str", "int", "float", "bool", "null", "seq", "map")
)


class SafeYamlError(Exception):
    """The document is refused. ``message`` is one line, ``line`` 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(f"line {line}: {message}" if line else message)

    def describe(self, filename: str) -> str:
        """``values.yaml line 3: anchors (&x) are not allowed``"""
        where = f"{filename} line {self.line}" if self.line else filename
        return f"{where}: {self.message}"


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


class StrictSafeLoader(yaml.SafeLoader):
    """SafeLoader with the restrictions listed in the module docstring."""

    # Copied so that removing resolvers does not change yaml.SafeLoader for everyone else.
    # Timestamps stay strings (they are not JSON); "=" (the !!value key) is a plain string.
    yaml_implicit_resolvers = {
        first: [
            (tag, rx) for tag, rx in resolvers if tag not in {_CORE + "timestamp", _CORE + "value"}
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise SafeYamlError(
                f"aliases (*{event.anchor}) are not allowed", _line(event.start_mark)
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise SafeYamlError(f"anchors (&{anchor}) are not allowed", _line(event.start_mark))
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise SafeYamlError(f"nested deeper than {MAX_DEPTH} levels", _line(event.start_mark))
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None and node.tag not in ALLOWED_TAGS:
            if node.tag == _CORE + "merge":
                raise SafeYamlError("merge keys (<<) are not allowed", _line(node.start_mark))
            raise SafeYamlError(
                f"tag {_short_tag(node.tag)} is not allowed", _line(node.start_mark)
            )
        return node

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if not (isinstance(key_node, ScalarNode) and key_node.tag == _CORE + "str"):
                    raise SafeYamlError(
                        "mapping keys must be strings (quote the key)", _line(key_node.start_mark)
                    )
                key = self.construct_scalar(key_node)
                if key in seen:
                    raise SafeYamlError(f"duplicate key {key!r}", _line(key_node.start_mark))
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]

    def construct_yaml_float(self, node: Node) -> float:
        value = super().construct_yaml_float(node)  # type: ignore[arg-type]
        if math.isnan(value) or math.isinf(value):
            raise SafeYamlError("NaN and infinite numbers are not allowed", _line(node.start_mark))
        return value


StrictSafeLoader.add_constructor(_CORE + "float", StrictSafeLoader.construct_yaml_float)


def load_yaml(data: str | bytes) -> Any:
    """Parse one document under StrictSafeLoader; bytes must be UTF-8."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SafeYamlError(f"not UTF-8 (byte {exc.start})") from None
    data = data.removeprefix("\ufeff")
    loader = StrictSafeLoader(data)
    try:
        return loader.get_single_data()
    except SafeYamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = "; ".join(part for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise SafeYamlError(" ".join(problem.split()), _line(mark)) from None
    except yaml.YAMLError as exc:
        raise SafeYamlError(" ".join(str(exc).split()) or "invalid YAML") from None
    except RecursionError:
        raise SafeYamlError(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
