"""What a change to an instance changes: masked values and manifests of two sides,
as unified diffs, a list of files and a list of values.

One home for every "before → after" the instance pages show: the diff of two
revisions, the upgrade preview and the rollback dialog all call ``changes_between``.
Both sides are always the masked copies (``values_masked``, ``manifests_masked``):
a secret never shows, not even as the line a diff says it changed."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

# A value longer than this is shown cut (with "…") in the list of changed values.
VALUE_SHOWN_CHARS = 80

FileChangeKind = Literal["added", "changed", "removed"]


def values_yaml(values: Any) -> str:
    return yaml.safe_dump(
        values or {}, sort_keys=True, default_flow_style=False, allow_unicode=True
    )


def unified(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=old_name,
            tofile=new_name,
        )
    )


@dataclass(frozen=True)
class FileChange:
    """One manifest file that differs, with its own unified diff."""

    path: str
    change: FileChangeKind
    added: int
    removed: int
    diff: str


def _counts(diff: str) -> tuple[int, int]:
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith(("+++ ", "--- ")):
            continue
        if line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    return added, removed


def manifests_changes(
    old: Mapping[str, str], new: Mapping[str, str], old_label: str, new_label: str
) -> list[FileChange]:
    """Every file that differs, by path; a file on one side only is added or removed
    (its other side is /dev/null, as git shows it)."""
    files = []
    for path in sorted(set(old) | set(new)):
        before = old.get(path, "")
        after = new.get(path, "")
        if path in old and path in new and before == after:
            continue
        diff = unified(
            before,
            after,
            f"{old_label}/{path}" if path in old else "/dev/null",
            f"{new_label}/{path}" if path in new else "/dev/null",
        )
        kind: FileChangeKind = (
            "added" if path not in old else "removed" if path not in new else "changed"
        )
        files.append(FileChange(path, kind, *_counts(diff), diff=diff))
    return files


@dataclass(frozen=True)
class ValueChange:
    """One value (a dotted path) that differs; ``before``/``after`` are "" when absent."""

    path: str
    before: str
    after: str


def _leaves(values: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(values, Mapping) and values:
        found: dict[str, Any] = {}
        for key in values:
            found.update(_leaves(values[key], f"{prefix}.{key}" if prefix else str(key)))
        return found
    return {prefix: values} if prefix else {}


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= VALUE_SHOWN_CHARS else text[: VALUE_SHOWN_CHARS - 1] + "…"


def value_changes(old: Any, new: Any) -> list[ValueChange]:
    """The leaves of two masked value trees that differ, by dotted path. A secret is
    the mask on both sides, so a changed secret is not listed: saying it changed would
    already say something about it."""
    before, after = _leaves(old), _leaves(new)
    missing = object()
    changes = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path, missing), after.get(path, missing)
        if a == b:
            continue
        changes.append(
            ValueChange(
                path,
                "" if a is missing else _shown(a),
                "" if b is missing else _shown(b),
            )
        )
    return changes


@dataclass(frozen=True)
class Changes:
    values_diff: str
    files: list[FileChange]
    values: list[ValueChange]

    @property
    def manifests_diff(self) -> str:
        return "".join(f.diff for f in self.files)

    def count(self, kind: FileChangeKind) -> int:
        return sum(1 for f in self.files if f.change == kind)

    @property
    def added(self) -> int:
        return self.count("added")

    @property
    def changed(self) -> int:
        return self.count("changed")

    @property
    def removed(self) -> int:
        return self.count("removed")


def changes_between(
    *,
    old_values: Any,
    new_values: Any,
    old_manifests: Mapping[str, str],
    new_manifests: Mapping[str, str],
    old_label: str,
    new_label: str,
) -> Changes:
    """The masked values and manifests of two sides compared: the unified diffs, the
    files that differ and the values that differ."""
    return Changes(
        values_diff=unified(values_yaml(old_values), values_yaml(new_values), old_label, new_label),
        files=manifests_changes(old_manifests, new_manifests, old_label, new_label),
        values=value_changes(old_values, new_values),
    )
