"""Request parsing for the API: JSON with a nesting limit.

Python's json module recurses once per level, so a body of a few thousand brackets
raised RecursionError (a 500) in the parser, and a few hundred could still overflow
the recursion of a later walk (deep merges, schema validation, deepcopy). No value
the portal accepts needs more than a few levels; refusing deeper bodies at the one
place every JSON body enters keeps every later walk safe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

JSON_MAX_DEPTH = 64
TOO_DEEP = f"The JSON body is nested too deeply (at most {JSON_MAX_DEPTH} levels)."


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and objects deeper than ``limit``; iterative, so
    it cannot itself run out of stack."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Mapping | list):
            continue
        if depth > limit:
            return True
        children = node.values() if isinstance(node, Mapping) else node
        stack.extend((child, depth + 1) for child in children)
    return False


def json_loads_bounded(text: str | bytes) -> Any:
    """``json.loads`` for JSON inside a form field: ValueError when malformed or
    nested deeper than JSON_MAX_DEPTH, never RecursionError."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
    if json_depth_exceeds(data, JSON_MAX_DEPTH):
        raise ValueError(TOO_DEEP)
    return data


class DepthLimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if json_depth_exceeds(data, JSON_MAX_DEPTH):
            raise ParseError(TOO_DEEP)
        return data
