"""Secret values: schema properties marked ``"writeOnly": true``.

A secret path is dotted (``database.password``); ``*`` stands for any key of a mapping
or any item of a list (``users.*.token``). UI, API and logs show values through
``mask_secrets`` and never the raw values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MASK = "********"
_COMBINATORS = ("allOf", "anyOf", "oneOf", "if", "then", "else", "not")


def _resolve_local(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for token in ref[1:].lstrip("/").split("/") if ref != "#" else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def secret_paths(schema: Mapping[str, Any] | None) -> list[str]:
    """Every path whose schema says ``writeOnly: true``, following local ``$ref``s."""
    if not isinstance(schema, Mapping):
        return []
    found: set[str] = set()

    def walk(node: Any, path: tuple[str, ...], refs: frozenset[str]) -> None:
        if not isinstance(node, Mapping):
            return
        if node.get("writeOnly") is True and path:
            found.add(".".join(path))
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in refs:
            walk(_resolve_local(schema, ref), path, refs | {ref})
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            for key, sub in properties.items():
                walk(sub, (*path, str(key)), refs)
        patterns = node.get("patternProperties")
        if isinstance(patterns, Mapping):
            for sub in patterns.values():
                walk(sub, (*path, "*"), refs)
        for key in ("additionalProperties", "unevaluatedProperties", "items", "contains"):
            walk(node.get(key), (*path, "*"), refs)
        prefix = node.get("prefixItems")
        if isinstance(prefix, list):
            for sub in prefix:
                walk(sub, (*path, "*"), refs)
        for key in _COMBINATORS:
            sub = node.get(key)
            for branch in sub if isinstance(sub, list) else [sub]:
                walk(branch, path, refs)

    walk(schema, (), frozenset())
    return sorted(found)


def mask_secrets(values: Any, paths: Iterable[str], *, mask: str = MASK) -> Any:
    """A copy of ``values`` with every value at a secret path replaced by ``mask``."""
    split = [tuple(path.split(".")) for path in paths]

    def visit(node: Any, remaining: list[tuple[str, ...]]) -> Any:
        if not remaining:
            return _copy(node)
        if isinstance(node, Mapping):
            items = list(node.items())
        elif isinstance(node, list):
            items = [(str(i), v) for i, v in enumerate(node)]
        else:
            return node
        result = []
        for key, value in items:
            matching = [p for p in remaining if p[0] in ("*", key)]
            if any(len(p) == 1 for p in matching) and value is not None:
                result.append((key, mask))
            else:
                result.append((key, visit(value, [p[1:] for p in matching if len(p) > 1])))
        if isinstance(node, list):
            return [value for _, value in result]
        return dict(result)

    return visit(values, split)


def unmask_secrets(values: Any, stored: Any, paths: Iterable[str]) -> tuple[Any, list[str]]:
    """``values`` with every MASK at a secret path replaced by what ``stored`` holds
    there (SPEC section 11: the mask sent back, as the API and forms show it, keeps the
    secret), and the dotted paths of masks ``stored`` has no secret for: the mask is
    never a value, so the caller refuses those."""
    split = [tuple(path.split(".")) for path in paths]
    missing: list[str] = []

    def visit(node: Any, kept: Any, remaining: list[tuple[str, ...]], at: tuple[str, ...]) -> Any:
        if not remaining:
            return node
        if isinstance(node, Mapping):
            items = list(node.items())
        elif isinstance(node, list):
            items = [(str(i), v) for i, v in enumerate(node)]
        else:
            return node
        result = []
        for key, value in items:
            matching = [p for p in remaining if p[0] in ("*", key)]
            old = _child(kept, key)
            if value == MASK and any(len(p) == 1 for p in matching):
                if old is None or old == MASK:
                    missing.append(".".join((*at, str(key))))
                else:
                    value = old
            else:
                deeper = [p[1:] for p in matching if len(p) > 1]
                value = visit(value, old, deeper, (*at, str(key)))
            result.append((key, value))
        if isinstance(node, list):
            return [value for _, value in result]
        return dict(result)

    return visit(values, stored, split, ()), missing


def _child(node: Any, key: str) -> Any:
    if isinstance(node, Mapping):
        return node.get(key)
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node[int(key)]
    return None


def _copy(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node
