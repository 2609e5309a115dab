"""Which of an operation's values a failure is about, so that the page can say "caused
by safety.allowedNamespaces" and offer to edit exactly that value.

Two kinds of evidence, both from the operation's own error line: paths the schema check
names ("values rejected: replicas: ..."), and quoted text that equals a value the
operation used (verify's "metadata.namespace 'checkout-staging' is not 'payments'"
comes from a list in the values). Only masked values are searched when the operation
got as far as rendering, and only paths are returned: never a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from deployments.models import Operation
from portal.crypto import decrypt_json

_REJECTED = re.compile(r"values rejected: (?P<rest>.*)")
_REJECTED_PATH = re.compile(r"(?:^|; )(?P<path>[A-Za-z0-9_.\-]+): ")
_QUOTED = re.compile(r"'(?P<text>[^']{2,200})'")
_MAX_PATHS: Final = 5


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, str(index)))
    else:
        yield path, node


def _setting(path: tuple[str, ...]) -> str:
    """The field a value belongs to: list positions dropped (a list is one field)."""
    kept: list[str] = []
    for key in path:
        if key.isdigit():
            break
        kept.append(key)
    return ".".join(kept)


def _values_used(operation: Operation) -> Any:
    masked = operation.context.get("values_masked") if isinstance(operation.context, dict) else None
    if isinstance(masked, dict):
        return masked
    if not operation.values_encrypted:
        return {}
    try:
        return decrypt_json(operation.values_encrypted)
    except Exception:  # an undecryptable row: no evidence, not a broken page
        return {}


def operation_value_paths(operation: Operation) -> list[str]:
    """Dotted paths of the values the operation's failure is about, most certain first;
    empty when its error names none."""
    error = operation.error or ""
    found: list[str] = []
    rejected = _REJECTED.search(error)
    if rejected:
        found += [
            _setting(tuple(m["path"].split("."))) for m in _REJECTED_PATH.finditer(rejected["rest"])
        ]
    quoted = {m["text"] for m in _QUOTED.finditer(error)}
    quoted -= {operation.instance.name, operation.instance.namespace.name}
    if quoted:
        matches = [
            path
            for path, value in _leaves(_values_used(operation))
            if isinstance(value, str) and value in quoted
        ]
        # A value that is a setting of its own, or an item of a plain list, is the
        # likelier cause than the same text inside a list of objects (a drill that
        # targets the namespace the allow-list names).
        plain = [path for path in matches if not any(key.isdigit() for key in path[:-1])]
        found += [_setting(path) for path in plain or matches]
    unique = list(dict.fromkeys(path for path in found if path and path != "(root)"))
    return unique[:_MAX_PATHS]
