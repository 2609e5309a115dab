"""From a values schema to the layout of the install form: groups (fieldsets) of leaves
(one form field each).

The layout depends only on the schema and the initial values (package defaults with
the instance's current values on top), never on what the user posts: the same package
and instance give the same fields on every request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from deployments.values_form.trees import MISSING, SecretPath, same

# Nested objects deeper than this are one YAML field: fieldsets inside fieldsets stop
# being readable long before.
MAX_GROUP_DEPTH: Final = 6
# A schema with more leaves than this is edited as YAML only.
MAX_FIELDS: Final = 400
MAX_CHOICES: Final = 200
_MAX_REF_HOPS: Final = 32

SCALARS: Final = ("string", "integer", "number", "boolean")
# Keywords that only say which keys are required: they do not change the form's shape.
_REQUIRED_ONLY: Final = frozenset({"required", "title", "description", "$comment"})


@dataclass
class Leaf:
    """One form field.

    kind is one of: string, integer, number, boolean, enum (select), lines (a list of
    scalars, one per line), choices (a list of enum values, checkboxes), yaml (any
    subtree as YAML), secret (a write-only scalar, password input) and secret_yaml (a
    write-only subtree).
    """

    path: tuple[str, ...]
    kind: str
    node: Mapping[str, Any]
    required: bool
    initial: Any
    item_kind: str = ""
    # lines and choices: the schema of one item.
    item_node: Mapping[str, Any] = field(default_factory=dict)
    choices: list[tuple[str, Any]] = field(default_factory=list)
    container: str = ""
    nullable: bool = False
    # Secret paths below this leaf (relative to it): parts of a YAML subtree to hide.
    inner_secrets: list[SecretPath] = field(default_factory=list)
    name: str = ""
    index: int = 0

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    def choice_key(self, value: Any) -> str | None:
        for key, choice in self.choices:
            if same(choice, value):
                return key
        return None


@dataclass
class Group:
    """A nested object: a fieldset of its properties."""

    path: tuple[str, ...]
    node: Mapping[str, Any]
    required: bool
    initial: Any
    children: list[Group | Leaf] = field(default_factory=list)

    @property
    def dotted(self) -> str:
        return ".".join(self.path)

    @property
    def keys(self) -> set[str]:
        return {child.path[-1] for child in self.children}

    @property
    def holds_required(self) -> bool:
        """Whether a field below is required (at any depth)."""
        return any(
            child.required or (isinstance(child, Group) and child.holds_required)
            for child in self.children
        )

    @property
    def needs_input(self) -> bool:
        """Whether a required field below, on a chain of required keys from here, has no
        value yet (the defaults leave it empty): the user must fill it in."""
        for child in self.children:
            if not child.required:
                continue
            if child.initial is MISSING:
                return True
            if isinstance(child, Group) and child.needs_input:
                return True
        return False

    def walk(self) -> Iterator[Group | Leaf]:
        for child in self.children:
            yield child
            if isinstance(child, Group):
                yield from child.walk()


def is_advanced(node: Group | Leaf) -> bool:
    """Whether a top-level setting belongs in the form's "Advanced" group (see
    docs/values-form.md): the schema says so with ``x-advanced``, or it is a section
    in which nothing is required, so the app's defaults apply when it is left alone.
    A top-level field outside a section is never advanced by that rule: it is one of
    the app's headline settings (replicas, a dry-run switch)."""
    marked = node.node.get("x-advanced")
    if isinstance(marked, bool):
        return marked
    return isinstance(node, Group) and not node.required and not node.holds_required


def field_name(path: Sequence[str]) -> str:
    """``values.resources.limits.cpu``; a dot or tilde inside a key is escaped (~1, ~0)
    so that two paths never share a name."""
    return "values." + ".".join(key.replace("~", "~0").replace(".", "~1") for key in path)


def _resolve_pointer(root: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for token in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _resolve(root: Mapping[str, Any], node: Any) -> Mapping[str, Any] | None:
    """``node`` with local $refs followed (its own keywords win over the target's) and
    plain allOf branches folded in. None when it cannot be followed (a cycle, a missing
    target): the caller falls back to YAML."""
    seen: set[str] = set()
    hops = 0
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        target = _resolve_pointer(root, ref)
        hops += 1
        if ref in seen or not isinstance(target, Mapping) or hops > _MAX_REF_HOPS:
            return None
        seen.add(ref)
        node = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
    if not isinstance(node, Mapping):
        return None
    branches = node.get("allOf")
    if isinstance(branches, list):
        properties = dict(node.get("properties") or {})
        required = list(node.get("required") or [])
        for branch in branches:
            resolved = _resolve(root, branch) if isinstance(branch, Mapping) else None
            if resolved is None:
                continue
            # Conditionals (if/then/else) and the like only constrain: the schema check
            # after the form reports them. Only plain branches add fields.
            extra = resolved.get("properties")
            if isinstance(extra, Mapping):
                for key, sub in extra.items():
                    properties.setdefault(key, sub)
                required += [key for key in resolved.get("required") or [] if isinstance(key, str)]
        if properties:
            node = {**node, "properties": properties, "required": required}
    return node


def _shape_free(root: Mapping[str, Any], branches: Any) -> bool:
    """Whether oneOf/anyOf branches only choose required keys (``{"required": [...]}``)."""
    if not isinstance(branches, list):
        return True
    for branch in branches:
        resolved = _resolve(root, branch) if isinstance(branch, Mapping) else None
        if resolved is None or not set(resolved) <= _REQUIRED_ONLY:
            return False
    return True


def _types(node: Mapping[str, Any]) -> tuple[set[str], bool]:
    """The JSON types a node allows (empty: anything) and whether null is one of them."""
    declared = node.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {t for t in declared if isinstance(t, str)}
    elif isinstance(node.get("enum"), list) or "const" in node:
        types = set()
    elif any(key in node for key in ("properties", "additionalProperties", "patternProperties")):
        types = {"object"}
    elif "items" in node or "prefixItems" in node:
        types = {"array"}
    else:
        types = set()
    nullable = "null" in types
    types.discard("null")
    if types == {"integer", "number"}:
        types = {"number"}
    return types, nullable


def _enum(node: Mapping[str, Any]) -> list[Any] | None:
    if "const" in node:
        values = [node["const"]]
    elif isinstance(node.get("enum"), list):
        values = list(node["enum"])
    else:
        return None
    scalar = all(value is None or isinstance(value, str | int | float) for value in values)
    return values if values and scalar and len(values) <= MAX_CHOICES else None


def _choices(values: list[Any]) -> list[tuple[str, Any]]:
    """(form key, value) pairs: a string is its own key; anything else is its JSON, and
    so is every value when that would make two keys equal ("1" and 1)."""
    keys = [value if isinstance(value, str) else json.dumps(value) for value in values]
    if len(set(keys)) != len(keys):
        keys = [json.dumps(value) for value in values]
    return list(zip(keys, values, strict=True))


def _fits_scalar(kind: str, value: Any) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, int | float)
    return False


def _fits_line(kind: str, value: Any) -> bool:
    if kind == "string":
        # One item per line: an item that is empty, spans lines or has surrounding
        # blanks would not come back the same.
        return (
            isinstance(value, str)
            and bool(value)
            and value == value.strip()
            and ("\n" not in value and "\r" not in value)
        )
    return _fits_scalar(kind, value)


def _fits(leaf: Leaf) -> bool:
    value = leaf.initial
    if value is MISSING or (value is None and leaf.nullable):
        return True
    if leaf.kind in SCALARS or leaf.kind == "secret":
        kind = leaf.item_kind if leaf.kind == "secret" else leaf.kind
        return _fits_scalar(kind, value)
    if leaf.kind == "enum":
        return leaf.choice_key(value) is not None
    if leaf.kind == "lines":
        return isinstance(value, list) and all(_fits_line(leaf.item_kind, v) for v in value)
    if leaf.kind == "choices":
        keys = [leaf.choice_key(v) for v in value] if isinstance(value, list) else [None]
        return None not in keys and len(set(keys)) == len(keys)
    return True


def fits(leaf: Leaf, value: Any) -> bool:
    """Whether ``value`` can be shown in ``leaf``'s field without changing it."""
    return _fits(replace(leaf, initial=value))


class _Builder:
    def __init__(self, root: Mapping[str, Any], secrets: Sequence[SecretPath]) -> None:
        self.root = root
        self.secrets = list(secrets)
        self.leaves = 0

    def _secret_below(self, path: tuple[str, ...]) -> tuple[bool, list[SecretPath]]:
        """Whether ``path`` is itself secret, and the secret paths below it."""
        itself = False
        below: list[SecretPath] = []
        for secret in self.secrets:
            if len(secret) < len(path):
                continue
            if all(want in ("*", got) for want, got in zip(secret, path, strict=False)):
                if len(secret) == len(path):
                    itself = True
                else:
                    below.append(secret[len(path) :])
        return itself, below

    def build(
        self, raw: Any, path: tuple[str, ...], required: bool, initial: Any, depth: int
    ) -> Group | Leaf:
        node = _resolve(self.root, raw) if raw is not True else {}
        itself, below = self._secret_below(path)
        if node is None:
            return self._leaf(path, "yaml", {}, required, initial, secret=itself, below=below)
        secret = itself or node.get("writeOnly") is True
        types, nullable = _types(node)
        values = _enum(node)
        shape_free = _shape_free(self.root, node.get("oneOf")) and _shape_free(
            self.root, node.get("anyOf")
        )
        properties = node.get("properties")
        if (
            types == {"object"}
            and isinstance(properties, Mapping)
            and properties
            and shape_free
            and not secret
            and depth < MAX_GROUP_DEPTH
            and (initial is MISSING or isinstance(initial, Mapping))
        ):
            return self._group(node, path, required, initial, depth)
        if not shape_free or len(types) > 1:
            kind = "yaml"
        elif values is not None:
            kind = "enum"
        elif types and next(iter(types)) in SCALARS:
            kind = next(iter(types))
        elif types == {"array"}:
            kind = self._array_kind(node)
        else:
            kind = "yaml"
        leaf = self._leaf(
            path, kind, node, required, initial, secret=secret, below=below, nullable=nullable
        )
        if kind == "enum" and values is not None:
            leaf.choices = _choices(values)
        if kind in ("lines", "choices"):
            items = _resolve(self.root, node.get("items")) or {}
            leaf.item_node = items
            leaf.item_kind = next(iter(_types(items)[0]), "string")
            values = _enum(items)
            if kind == "choices" and values is not None:
                leaf.choices = _choices(values)
        if leaf.kind == "secret":
            leaf.item_kind = kind
        if not _fits(leaf):
            # The current value is not what the schema describes (an older version's
            # value, a hand-edited one): show it as it is rather than lose it.
            leaf.kind = "secret_yaml" if secret else "yaml"
            leaf.choices = []
        if leaf.kind in ("yaml", "secret_yaml"):
            leaf.container = next(iter(types)) if len(types) == 1 else ""
        return leaf

    def _array_kind(self, node: Mapping[str, Any]) -> str:
        items = node.get("items")
        if "prefixItems" in node or not isinstance(items, Mapping):
            return "yaml"
        resolved = _resolve(self.root, items)
        if resolved is None or resolved.get("writeOnly") is True:
            return "yaml"
        types, nullable = _types(resolved)
        values = _enum(resolved)
        if values is not None:
            strings = all(isinstance(value, str) for value in values)
            return "choices" if strings and not nullable else "yaml"
        if len(types) == 1 and not nullable and next(iter(types)) in SCALARS:
            return "lines"
        return "yaml"

    def _leaf(
        self,
        path: tuple[str, ...],
        kind: str,
        node: Mapping[str, Any],
        required: bool,
        initial: Any,
        *,
        secret: bool,
        below: list[SecretPath],
        nullable: bool = False,
    ) -> Leaf:
        self.leaves += 1
        if secret:
            kind = "secret" if kind in ("string", "integer", "number") else "secret_yaml"
        return Leaf(
            path=path,
            kind=kind,
            node=node,
            required=required,
            initial=initial,
            nullable=nullable,
            inner_secrets=below,
            name=field_name(path),
            index=self.leaves,
        )

    def _group(
        self,
        node: Mapping[str, Any],
        path: tuple[str, ...],
        required: bool,
        initial: Any,
        depth: int,
    ) -> Group:
        group = Group(path=path, node=node, required=required, initial=initial)
        required_keys = node.get("required")
        needed = set(required_keys) if isinstance(required_keys, list) else set()
        for key, sub in node.get("properties", {}).items():
            if sub is False or not isinstance(key, str):
                continue  # "false": no value is allowed, so there is nothing to ask
            child_initial = initial.get(key, MISSING) if isinstance(initial, Mapping) else MISSING
            child = self.build(sub, (*path, key), key in needed, child_initial, depth + 1)
            group.children.append(child)
        return group


def build_layout(
    schema: Mapping[str, Any] | None, initial: Mapping[str, Any], secrets: Sequence[SecretPath]
) -> Group | None:
    """The root group of the form, or None when the schema cannot be shown as one (no
    schema, no top-level properties, a top-level oneOf, too many fields)."""
    if not isinstance(schema, Mapping):
        return None
    builder = _Builder(schema, secrets)
    try:
        root = builder.build(schema, (), False, initial, 0)
    except RecursionError:
        return None
    if not isinstance(root, Group) or not root.children or builder.leaves > MAX_FIELDS:
        return None
    return root
