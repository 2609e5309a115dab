"""Drift: whether a live Kubernetes object still holds what the portal applied to it.

The portal applies with server-side apply, so the live object is the applied one plus
what others wrote: the API server's defaults, ``status``, fields of other managers.
Only a field the portal set can drift, so the applied object is compared as a subset of
the live one, with server-side apply's own idea of ownership:

- maps key by key; keys only the live object has belong to someone else;
- lists of maps that name their elements (containers, ports, env, volumes by ``name``;
  volumeMounts by ``mountPath``) element by element by that key. An element only the
  live object has was added by another manager and a re-apply would leave it in place,
  so it is not drift;
- other lists are atomic (a re-apply replaces them whole): element by element, and a
  different length is drift;
- ``metadata`` only for labels and annotations; ``status`` never; apiVersion, kind,
  name and namespace say which object this is, not its state.

What the API server rewrites on its own is normalised first, so a freshly applied
object is never drifted:

- a Secret's ``stringData`` is stored base64-encoded in ``data``; ``data`` values are
  compared decoded;
- resource quantities come back canonical (cpu ``0.5`` as ``500m``, memory ``1024Mi``
  as ``1Gi``): under requests, limits, hard, capacity, ... they are compared as numbers;
- a number given as a string where the schema takes int-or-string, or the other way;
- a zero value the portal set (false, 0, "", {}, []) is left out by the server: a
  missing live field equals it;
- ``null`` in the applied object is no opinion.

The diff is the applied fields against the live values of the same fields, as YAML;
values that compare equal print the same on both sides (``0.5`` against ``500m`` makes
no line). No Secret value ever appears in it: both sides print ``********``, a changed
value ``******** (changed)``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from kubernetes.utils import parse_quantity

MASK = "********"
CHANGED_MASK = "******** (changed)"
MAX_DIFF_LINES = 200
MAX_FIELDS = 100
# Deeper than any real manifest, and shallow enough for every recursion below.
MAX_NESTING = 100

# Lists of maps keyed by something other than "name" (server-side apply's list map keys).
_ELEMENT_KEYS = {"volumeMounts": "mountPath", "volumeDevices": "devicePath"}
# Maps whose values are resource quantities, and quantity fields outside such maps.
_QUANTITY_MAPS = frozenset(
    {
        "requests",
        "target",  # an autoscaler's averageValue / value
        "limits",
        "hard",
        "capacity",
        "allocatable",
        "podFixed",
        "max",
        "min",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
    }
)
_QUANTITY_FIELDS = frozenset({"sizeLimit"})
_PLAIN_KEY = re.compile(r'[^.\[\]"\s]+')

# One step into an object: a map key, a list index, or (key field, value) of a named
# list element.
Segment = str | int | tuple[str, str]
Path = tuple[Segment, ...]


class _Missing:
    """A field the live object does not have (None is a value JSON can hold)."""


_MISSING = _Missing()


@dataclass(frozen=True)
class Drift:
    drifted: bool
    fields: list[str]  # dotted paths that differ, at most MAX_FIELDS
    diff: str  # unified diff, applied against live, at most MAX_DIFF_LINES lines


def resource_drift(applied: dict[str, Any], live: dict[str, Any]) -> Drift:
    """Compare what the portal applied with the live object:

    1. keep the parts of ``applied`` the portal manages, rewritten the way the API
       server stores them (a Secret's stringData as base64 data, nulls dropped);
    2. walk them against ``live``, noting each path whose value differs and building
       the live values of the same fields;
    3. when anything differs, render both as YAML (Secret values masked) and diff.
    """
    if _nesting(applied) > MAX_NESTING or _nesting(live) > MAX_NESTING:
        # Said rather than guessed: flagged, so that someone looks.
        return Drift(
            drifted=True, fields=[], diff=f"not compared: nested deeper than {MAX_NESTING} levels"
        )
    secret = applied.get("kind") == "Secret" or live.get("kind") == "Secret"
    wanted = _managed(applied, secret=secret)
    encoded = "data" if secret else "binaryData" if applied.get("kind") == "ConfigMap" else None
    walk = _Walk(encoded=encoded, masked=secret)
    seen = walk.compare(wanted, live, ())
    if not walk.paths:
        return Drift(drifted=False, fields=[], diff="")
    seen = {} if seen is _MISSING else seen
    if secret:
        wanted, seen = _masked(wanted), _masked(seen)
    return Drift(
        drifted=True,
        fields=[_dotted(path) for path in walk.paths[:MAX_FIELDS]],
        diff=_unified(wanted, seen),
    )


def _managed(applied: dict[str, Any], *, secret: bool) -> dict[str, Any]:
    managed: dict[str, Any] = {}
    for key, value in applied.items():
        if key in ("apiVersion", "kind", "status") or value is None:
            continue
        if key == "metadata":
            meta = value if isinstance(value, dict) else {}
            kept = {k: meta[k] for k in ("labels", "annotations") if meta.get(k) is not None}
            if kept:
                managed["metadata"] = _without_nulls(kept)
            continue
        managed[key] = _without_nulls(value)
    if secret:
        string_data = managed.pop("stringData", None)
        if isinstance(string_data, dict) and string_data:
            data = dict(managed.get("data") or {})
            for key, value in string_data.items():
                # The server lets stringData win over data for the same key.
                data[key] = base64.b64encode(str(value).encode()).decode()
            managed["data"] = data
    return managed


class _Walk:
    def __init__(self, *, encoded: str | None, masked: bool) -> None:
        self.encoded = encoded  # the top-level map of base64 values, if any
        self.masked = masked  # and whether those values are secret
        self.paths: list[Path] = []

    def compare(self, want: Any, have: Any, path: Path) -> Any:
        """Note where ``have`` differs from ``want`` below ``path``; return the live
        value in ``want``'s shape (``want``'s own value where they are equal, so the
        two render alike; _MISSING where the live object has nothing)."""
        if self.encoded and len(path) == 2 and path[0] == self.encoded:
            return self._encoded_value(want, have, path)
        if isinstance(want, dict):
            return self._map(want, have, path)
        if isinstance(want, list):
            return self._list(want, have, path)
        if have is _MISSING or have is None:
            return want if _is_zero(want) else self._differs(path, _MISSING)
        return want if _same_scalar(want, have, path) else self._differs(path, have)

    def _map(self, want: dict[str, Any], have: Any, path: Path) -> Any:
        if not isinstance(have, dict):
            if (have is _MISSING or have is None) and _is_zero(want):
                return want
            return self._differs(path, have)
        seen: dict[str, Any] = {}
        for key, value in want.items():
            got = self.compare(value, have.get(key, _MISSING), (*path, key))
            if got is not _MISSING:
                seen[key] = got
        return seen

    def _list(self, want: list[Any], have: Any, path: Path) -> Any:
        if not isinstance(have, list):
            if (have is _MISSING or have is None) and _is_zero(want):
                return want
            return self._differs(path, have)
        key = _element_key(path, want)
        if key is not None:
            by_key = {
                str(element[key]): element
                for element in have
                if isinstance(element, dict) and key in element
            }
            named: list[Any] = []
            for element in want:
                name = str(element[key])
                got = self.compare(element, by_key.get(name, _MISSING), (*path, (key, name)))
                if got is not _MISSING:
                    named.append(got)
            return named
        if len(want) != len(have):
            self.paths.append(path)
        pairs = enumerate(zip(want, have, strict=False))  # the lengths may differ: noted
        seen = [self.compare(w, h, (*path, i)) for i, (w, h) in pairs]
        return [item for item in seen if item is not _MISSING] + have[len(want) :]

    def _encoded_value(self, want: Any, have: Any, path: Path) -> Any:
        if have is _MISSING:
            return self._differs(path, _MISSING)
        if _decoded(want) == _decoded(have):
            return MASK if self.masked else want
        self.paths.append(path)
        return CHANGED_MASK if self.masked else have

    def _differs(self, path: Path, have: Any) -> Any:
        self.paths.append(path)
        return have


def _element_key(path: Path, want: list[Any]) -> str | None:
    """The field that names this list's elements, or None for an atomic list: every
    applied element must be a map holding it, with no two alike."""
    field = path[-1] if path and isinstance(path[-1], str) else ""
    key = _ELEMENT_KEYS.get(field, "name")
    names = [
        element.get(key)
        for element in want
        if isinstance(element, dict) and isinstance(element.get(key), str | int)
    ]
    if not want or len(names) != len(want) or len({str(n) for n in names}) != len(names):
        return None
    return key


def _same_scalar(want: Any, have: Any, path: Path) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        # True == 1 to Python; not to Kubernetes.
        return isinstance(want, bool) and isinstance(have, bool) and want == have
    if want == have:
        return True
    if _is_quantity(path):
        want_quantity, have_quantity = _quantity(want), _quantity(have)
        if want_quantity is not None and want_quantity == have_quantity:
            return True
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(have, str):
        return str(want) == have
    if isinstance(want, str) and isinstance(have, numbers):
        return want == str(have)
    return False


def _is_quantity(path: Path) -> bool:
    leaf = path[-1] if path else None
    parent = path[-2] if len(path) >= 2 else None
    return parent in _QUANTITY_MAPS or leaf in _QUANTITY_FIELDS


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        # str() first: a float's binary value (0.1) is not the quantity it was written as.
        return Decimal(parse_quantity(str(value)))
    except (ValueError, InvalidOperation, ArithmeticError):
        return None


def _decoded(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return value


def _nesting(value: Any) -> int:
    """How deeply maps and lists nest in ``value``, counted without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children:
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                return deepest
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _is_zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return value is False or value == "" or (isinstance(value, int | float) and value == 0)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _masked(side: dict[str, Any]) -> dict[str, Any]:
    """``side`` with every value of a Secret's data masked, whatever shape it has; the
    walk's markers (equal, changed) kept."""
    if "data" not in side:
        return side
    data = side["data"]
    if isinstance(data, dict):
        masked = {k: v if v in (MASK, CHANGED_MASK) else MASK for k, v in data.items()}
        return {**side, "data": masked}
    return {**side, "data": MASK}


def _dotted(path: Path) -> str:
    text = ""
    for segment in path:
        if isinstance(segment, int):
            text += f"[{segment}]"
        elif isinstance(segment, tuple):
            text += f"[{segment[0]}={segment[1]}]"
        elif _PLAIN_KEY.fullmatch(segment):
            text += f".{segment}" if text else segment
        else:
            text += f"[{json.dumps(segment)}]"
    return text


class _Dumper(yaml.SafeDumper):
    pass


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # A config file in a ConfigMap reads (and diffs) line by line as a block.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _yaml(value: Any) -> list[str]:
    text = yaml.dump(value, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)
    return text.splitlines(keepends=True)


def _unified(wanted: Any, seen: Any) -> str:
    lines = list(difflib.unified_diff(_yaml(wanted), _yaml(seen), "applied", "live", n=3))
    if len(lines) > MAX_DIFF_LINES:
        cut = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"… {cut} more lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
