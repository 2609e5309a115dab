"""Value trees of the install form: secrets left out and put back, overrides, YAML text.

A secret path is a tuple of keys (``("auth", "password")``); ``"*"`` stands for any key
of a mapping or any item of a list, as in market.package.secrets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import yaml

from market.package.safe_yaml import SafeYamlError, load_yaml

SecretPath = tuple[str, ...]

# Largest YAML text accepted from one textarea (the YAML editor or one form field).
MAX_YAML_BYTES: Final = 256 * 1024


class _Missing:
    """No value at all (not even null): the key is absent."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


def copy_tree(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {key: copy_tree(value) for key, value in node.items()}
    if isinstance(node, list):
        return [copy_tree(value) for value in node]
    return node


def same(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: ``True`` is not ``1`` and ``"1"`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def overrides(tree: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``tree`` that differs from ``base``: deep-merged onto ``base`` it gives
    ``tree`` back, except for keys ``tree`` lacks (a merge cannot delete: the base value
    stays)."""
    result: dict[str, Any] = {}
    for key, value in tree.items():
        if key not in base:
            result[key] = copy_tree(value)
            continue
        old = base[key]
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            changed = overrides(value, old)
            if changed:
                result[key] = changed
        elif not same(value, old):
            result[key] = copy_tree(value)
    return result


class _Omit:
    """strip_secrets' answer for a node that is secret as a whole."""


_OMIT: Final = _Omit()


def _below(paths: Sequence[SecretPath], key: str) -> list[SecretPath]:
    return [path[1:] for path in paths if path[0] in ("*", key)]


def _strip(node: Any, paths: Sequence[SecretPath]) -> Any:
    if not paths:
        return copy_tree(node)
    if any(not path for path in paths):
        return _OMIT
    if isinstance(node, Mapping):
        result = {}
        for key, value in node.items():
            stripped = _strip(value, _below(paths, str(key)))
            if stripped is not _OMIT:
                result[key] = stripped
        return result
    if isinstance(node, list):
        items = [_strip(value, _below(paths, str(index))) for index, value in enumerate(node)]
        # A list whose items are secrets is left out whole: dropping items would shift
        # the positions of the others.
        return _OMIT if any(item is _OMIT for item in items) else items
    return copy_tree(node)


def strip_secrets(node: Any, paths: Sequence[SecretPath]) -> Any:
    """A copy of ``node`` without the values at secret ``paths`` (relative to ``node``):
    what the user may be shown. A node that is itself secret becomes MISSING."""
    stripped = _strip(node, paths)
    return MISSING if stripped is _OMIT else stripped


def restore_secrets(submitted: Any, initial: Any, paths: Sequence[SecretPath]) -> Any:
    """``submitted`` with every secret that strip_secrets left out of ``initial`` put
    back where the user left it out, so that an untouched secret is kept.

    Mapping keys are identities and restore by name. List items move (one is deleted,
    two swap), so an item gets its secrets back only from an item of the initial list
    that equals it once both are stripped; an item the user edited apart from its
    secrets gets none back rather than someone else's.
    """
    if not paths or initial is MISSING or any(not path for path in paths):
        # Nothing secret below, nothing to restore from, or the user gave the whole
        # secret node anew.
        return submitted
    if isinstance(submitted, Mapping) and isinstance(initial, Mapping):
        result: dict[str, Any] = {}
        for key, value in submitted.items():
            below = _below(paths, str(key))
            result[key] = restore_secrets(value, initial.get(key, MISSING), below)
        for key, value in initial.items():
            if key not in submitted and _strip(value, _below(paths, str(key))) is _OMIT:
                result[key] = copy_tree(value)
        return result
    if isinstance(submitted, list) and isinstance(initial, list):
        below = [path[1:] for path in paths if path[0] == "*" and len(path) > 1]
        if not below:
            return submitted
        candidates = [(_strip(item, below), item) for item in initial]
        used: set[int] = set()
        restored = []
        for item in submitted:
            bare = _strip(item, below)
            for index, (other, original) in enumerate(candidates):
                if index not in used and same(bare, other):
                    used.add(index)
                    item = restore_secrets(item, original, below)
                    break
            restored.append(item)
        return restored
    return submitted


def dump_yaml(value: Any) -> str:
    """Block-style YAML that load_yaml reads back to the same value."""
    if value is MISSING:
        return ""
    text = yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    # A lone scalar ends with an explicit document end ("..."): noise in a form field.
    return text.removesuffix("...\n")


class YamlInvalid(ValueError):
    """The text is refused; ``str()`` is one line for the user."""


def parse_yaml(text: str) -> Any:
    """One YAML document under the package loader's rules (no anchors, no custom tags, no
    duplicate keys, at most 64 levels deep); MISSING when the text is blank."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_YAML_BYTES:
        raise YamlInvalid(f"The YAML is over {MAX_YAML_BYTES // 1024} KiB.")
    if not text.strip():
        return MISSING
    try:
        return load_yaml(text)
    except SafeYamlError as exc:
        raise YamlInvalid(f"Not valid YAML: {exc}") from None
    except UnicodeError:
        raise YamlInvalid("The YAML holds characters that are not valid text.") from None
