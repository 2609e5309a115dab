"""ValuesForm: an app's install parameters as a generated form or as YAML."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any, Final, Literal, cast

from django import forms
from django.forms.utils import ErrorList
from django.http import QueryDict

from deployments.values_form.fields import display_value, make_field
from deployments.values_form.layout import (
    Group,
    Leaf,
    build_layout,
    field_name,
    fits,
    is_advanced,
)
from deployments.values_form.trees import (
    MAX_YAML_BYTES,
    MISSING,
    SecretPath,
    YamlInvalid,
    copy_tree,
    dump_yaml,
    overrides,
    parse_yaml,
    restore_secrets,
    same,
    strip_secrets,
)
from deployments.values_form.words import humanise, label_for, path_words, problem_words
from market.package.render import deep_merge
from market.package.schema import SchemaProblem, schema_problems
from market.package.secrets import secret_paths as schema_secret_paths

Mode = Literal["form", "yaml"]
MODES: Final = ("form", "yaml")
MODE_FIELD: Final = "values_mode"
YAML_FIELD: Final = "values_yaml"
SWITCH_FIELD: Final = "values_switch"

_KINDS: Final[dict[type, str]] = {
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
}
_REQUIRED = re.compile(r"""^(['"])(?P<key>.*)\1 is a required property$""")
_RETYPE = "Secret values you typed are not carried over: type them again before you submit."


class _FieldsForm(forms.Form):
    # The schema is checked on the server, all at once; the browser must not stop a
    # submission (or a switch to YAML) over one empty field.
    use_required_attribute = False


class _YamlForm(forms.Form):
    use_required_attribute = False
    values_yaml = forms.CharField(
        required=False,
        strip=False,
        label="Values (YAML)",
        help_text=(
            f"Merged over the app's default values. At most {MAX_YAML_BYTES // 1024} KiB; "
            "no anchors, aliases or custom tags."
        ),
        widget=forms.Textarea(
            attrs={"rows": 24, "spellcheck": "false", "class": "values-form__yaml"}
        ),
    )


def _posted(data: Mapping[str, Any] | None, key: str) -> str:
    value = data.get(key) if data is not None else None
    return value if isinstance(value, str) else ""


def _at(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return MISSING
        tree = tree[key]
    return tree


class ValuesForm:
    """The values of one install or upgrade, edited as a form generated from the
    package's values schema, or as YAML.

    Steps on a POST: read the editor the page showed (``values_mode``); turn its input
    into a full values tree (a blank secret keeps the initial one); keep only what
    differs from ``defaults`` (``values``); check the defaults merged with ``values``
    against the schema and put every problem beside its field. A press on an editor
    switch (``values_switch``) instead re-renders the same values in the other editor,
    and ``is_valid()`` is False with no errors.

    ``defaults`` are the package's values.yaml; ``current`` the instance's stored
    values on upgrade (user values or merged values: both work). Fields start from the
    defaults with ``current`` on top.
    """

    def __init__(
        self,
        schema: Mapping[str, Any] | None,
        *,
        defaults: Mapping[str, Any],
        current: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.schema = schema if isinstance(schema, Mapping) else None
        self.defaults: dict[str, Any] = copy_tree(dict(defaults))
        self.initial: dict[str, Any] = deep_merge(self.defaults, current or {})
        self.secret_paths: list[SecretPath] = [
            tuple(path.split(".")) for path in schema_secret_paths(self.schema)
        ]
        self.layout: Group | None = build_layout(self.schema, self.initial, self.secret_paths)
        self.data = data
        self.is_bound = data is not None
        self.switching = False
        self.notices: list[str] = []
        self._errors: dict[str, list[str]] = {}
        self._values: dict[str, Any] | None = None
        self._checked = False
        # Values a failed operation is about (point_at): {label, path, target}.
        self.pointed: list[dict[str, str]] = []
        self.pointed_reason = ""

        posted = _posted(data, MODE_FIELD)
        default: Mode = "form" if self.layout is not None else "yaml"
        self.mode: Mode = default
        if posted == "yaml" or (posted == "form" and self.layout is not None):
            self.mode = cast(Mode, posted)
        bound_form = data if self.is_bound and self.mode == "form" else None
        bound_yaml = data if self.is_bound and self.mode == "yaml" else None
        self.form = self._fields_form(bound_form, self.initial)
        self.yaml_form = _YamlForm(bound_yaml, initial={YAML_FIELD: self.yaml_text(self.initial)})

        if self.is_bound and posted not in MODES:
            # Not a submission of this editor (a form without the partial, a hand-made
            # request): reading its absent fields would set every box to false and
            # every text to "", so nothing is read at all.
            self._note("", "The values editor was not part of the submission; reload the page.")
            self._checked = True
            return
        switch = _posted(data, SWITCH_FIELD)
        if self.is_bound and switch in MODES:
            self.switching = True
            if switch != self.mode and (switch == "yaml" or self.layout is not None):
                self._switch(cast(Mode, switch))

    # --- public API ---------------------------------------------------------------

    @property
    def form_available(self) -> bool:
        """Whether the schema can be shown as a form; without it only YAML is offered."""
        return self.layout is not None

    def is_valid(self) -> bool:
        """Whether the posted values can be installed: they parsed and the defaults
        merged with them satisfy the schema. False for a GET and for an editor switch."""
        if not self.is_bound or self.switching:
            return False
        if not self._checked:
            self._checked = True
            self._clean()
        return not self._errors

    @property
    def values(self) -> dict[str, Any]:
        """The user's values: what differs from the defaults, with kept secrets filled
        in. Store them as the instance's values and render with
        ``merged_values(package, values)``. Only when ``is_valid()`` is True."""
        if not self.is_valid() or self._values is None:
            raise ValueError("ValuesForm.values is only available when is_valid() is True")
        return copy_tree(self._values)

    @property
    def errors(self) -> dict[str, list[str]]:
        """Every problem, keyed by the dotted path it is about ("" for the values as a
        whole and for what no field shows)."""
        return {key: list(messages) for key, messages in self._errors.items()}

    @property
    def non_field_errors(self) -> list[str]:
        return list(self._errors.get("", []))

    def add_schema_errors(self, errors: Iterable[str]) -> None:
        """Put ``path: message`` lines (from validate_values, or a ValuesInvalid raised
        by a service) beside the fields they are about; the rest are non-field errors."""
        for line in errors:
            self._add_error_line(str(line))

    def yaml_text(self, tree: Mapping[str, Any]) -> str:
        """``tree`` as the YAML editor shows it: secrets left out, with a note saying so."""
        stripped = strip_secrets(tree, self.secret_paths)
        text = dump_yaml(stripped) if stripped else ""
        if not self.secret_paths:
            return text
        shown = ", ".join(".".join(path) for path in self.secret_paths[:5])
        more = ", ..." if len(self.secret_paths) > 5 else ""
        return (
            f"# Secret values ({shown}{more}) are not shown.\n"
            "# Leave them out to keep the stored ones; write one to change it.\n" + text
        )

    @property
    def items(self) -> list[dict[str, Any]]:
        """The form as a flat sequence for the template: ``{"open": group...}``,
        ``{"field": bound field}`` and ``{"close": True}``; the top-level settings that
        are advanced (layout.is_advanced) come last, between ``{"advanced": ...}`` and
        ``{"advanced_close": True}``. A group is shown open when it holds a required
        field that has no value yet, or a problem: the defaults fill the rest."""
        if self.layout is None:
            return []
        result: list[dict[str, Any]] = []
        main = [child for child in self.layout.children if not is_advanced(child)]
        advanced = [child for child in self.layout.children if is_advanced(child)]
        self._items(main, result)
        if advanced:
            result.append(
                {
                    "advanced": True,
                    "count": len(advanced),
                    "expanded": any(self._has_errors(child) for child in advanced),
                }
            )
            self._items(advanced, result)
            result.append({"advanced_close": True})
        return result

    def point_at(self, paths: Iterable[str], reason: str) -> None:
        """Say that ``reason`` (a failed operation's error line) is about the values at
        the dotted ``paths``, link to their fields and open the sections holding them."""
        self.pointed_reason = reason
        for dotted in paths:
            path = tuple(dotted.split("."))
            node = self._node_at(path) if self.mode == "form" else None
            if node is None:
                target = self.yaml_field.id_for_label if self.mode == "yaml" else ""
                self.pointed.append({"label": humanise(path[-1]), "path": dotted, "target": target})
                continue
            target = f"values-{node.index}" if isinstance(node, Leaf) else self._group_id(node)
            label = label_for(node.node, node.path[-1])
            self.pointed.append({"label": label, "path": dotted, "target": target})

    @property
    def error_summary(self) -> list[dict[str, str]]:
        """Every problem once, in the order of the page, with the id of the element it
        is about (``""`` when there is none): for the error summary at the top."""
        if self.mode == "yaml" or self.layout is None:
            editor = self.yaml_field.id_for_label
            return [
                {"message": message, "target": editor}
                for messages in self._errors.values()
                for message in messages
            ]
        entries: list[dict[str, str]] = [
            {"message": message, "target": "values-form"} for message in self.non_field_errors
        ]
        for node in self.layout.walk():
            if isinstance(node, Leaf):
                for message in self.form.errors.get(node.name, []):
                    entries.append({"message": str(message), "target": f"values-{node.index}"})
            else:
                for message in self._errors.get(node.dotted, []):
                    entries.append({"message": message, "target": self._group_id(node)})
        return entries

    @property
    def yaml_field(self) -> forms.BoundField:
        return self.yaml_form[YAML_FIELD]

    # --- building ----------------------------------------------------------------

    def _leaves(self) -> list[Leaf]:
        if self.layout is None:
            return []
        return [node for node in self.layout.walk() if isinstance(node, Leaf)]

    def _fields_form(self, data: Mapping[str, Any] | None, shown: Mapping[str, Any]) -> _FieldsForm:
        leaves = self._leaves()
        initial = {leaf.name: display_value(leaf, _at(shown, leaf.path)) for leaf in leaves}
        form = _FieldsForm(data, initial=initial)
        for leaf in leaves:
            form.fields[leaf.name] = make_field(leaf)
        return form

    @staticmethod
    def _group_id(group: Group) -> str:
        return "values-group-" + field_name(group.path).removeprefix("values.").replace(".", "-")

    def _has_errors(self, node: Group | Leaf) -> bool:
        """Whether ``node`` holds a problem, or a value a failed operation is about."""
        inside = node.dotted + "."
        if any(p["path"] == node.dotted or p["path"].startswith(inside) for p in self.pointed):
            return True
        if isinstance(node, Leaf):
            return bool(self.form.errors.get(node.name)) if self.form.is_bound else False
        prefix = node.dotted
        return any(
            key == prefix or key.startswith(prefix + ".") for key in self._errors if key
        ) or any(self._has_errors(child) for child in node.children)

    def _items(self, children: list[Group | Leaf], out: list[dict[str, Any]]) -> None:
        for child in children:
            if isinstance(child, Leaf):
                out.append({"field": self.form[child.name]})
                continue
            description = child.node.get("description")
            out.append(
                {
                    "open": True,
                    "label": label_for(child.node, child.path[-1]),
                    "help": description if isinstance(description, str) else "",
                    "required": child.required,
                    "errors": self._errors.get(child.dotted, []),
                    "depth": len(child.path),
                    "path": child.dotted,
                    "id": self._group_id(child),
                    "expanded": child.needs_input or self._has_errors(child),
                    "count": sum(1 for node in child.walk() if isinstance(node, Leaf)),
                }
            )
            self._items(child.children, out)
            out.append({"close": True})

    # --- reading a submission ------------------------------------------------------

    def _submitted_tree(self) -> tuple[dict[str, Any] | None, set[str]]:
        """The full values tree of the posted editor, and the dotted paths whose input
        could not be read (each already has its error). None when nothing could be read."""
        if self.mode == "yaml":
            return self._yaml_tree(), set()
        assert self.layout is not None
        self.form.is_valid()
        failed = set(self.form.errors)
        for leaf in self._leaves():
            for message in self.form.errors.get(leaf.name, []):
                self._note(leaf.dotted, str(message))
        tree = self._collect(self.layout, failed)
        return (tree if isinstance(tree, dict) else {}), {
            leaf.dotted for leaf in self._leaves() if leaf.name in failed
        }

    def _yaml_tree(self) -> dict[str, Any] | None:
        self.yaml_form.is_valid()
        text = str(self.yaml_form.cleaned_data.get(YAML_FIELD, "")).replace("\r\n", "\n")
        try:
            document = parse_yaml(text)
        except YamlInvalid as exc:
            self._yaml_error(str(exc))
            return None
        if document is MISSING or document is None:
            document = {}
        if not isinstance(document, dict):
            self._yaml_error(
                "The values must be a mapping (key: value lines) at the top level, "
                f"not {_KINDS.get(type(document), 'a single value')}."
            )
            return None
        tree = restore_secrets(document, self.initial, self.secret_paths)
        if _holds_typed_secrets(tree, self.initial, self.secret_paths):
            # Re-shown without what the user typed: a secret never goes back into a page.
            self._replace_shown(self.yaml_form, YAML_FIELD, self.yaml_text(tree))
        return cast(dict[str, Any], tree)

    def _collect(self, group: Group, failed: set[str]) -> Any:
        initial = group.initial
        result: dict[str, Any] = {}
        if isinstance(initial, Mapping):
            # Keys the schema does not describe (an older version's, say) cannot be
            # edited in the form; they are kept as they are. YAML mode edits them.
            result = {k: copy_tree(v) for k, v in initial.items() if k not in group.keys}
        for child in group.children:
            if isinstance(child, Group):
                value = self._collect(child, failed)
            elif child.name in failed:
                value = child.initial  # its error is shown; the schema check skips it
            else:
                value = self._leaf_value(child, self.form.cleaned_data.get(child.name))
            if value is not MISSING:
                result[child.path[-1]] = value
        if not result and initial is MISSING:
            return MISSING
        return result

    def _leaf_value(self, leaf: Leaf, cleaned: Any) -> Any:
        """The value a field gives. Blank means: for a secret, the stored one; for a
        text or list that had a value, "" or []; otherwise no value (MISSING), so that
        the package default applies."""
        had = leaf.initial is not MISSING
        kind = leaf.kind
        if kind == "secret":
            return leaf.initial if cleaned in (None, "") else cleaned
        if kind in ("yaml", "secret_yaml"):
            if cleaned is MISSING and kind == "secret_yaml":
                return leaf.initial
            if cleaned is MISSING:
                empty: dict[str, Any] = {"object": {}, "array": []}
                return empty.get(leaf.container, MISSING) if had else MISSING
            if kind == "secret_yaml":
                return cleaned
            restored = restore_secrets(cleaned, leaf.initial, leaf.inner_secrets)
            if _holds_typed_secrets(restored, leaf.initial, leaf.inner_secrets):
                self._replace_shown(self.form, leaf.name, display_value(leaf, restored))
            return restored
        if kind == "boolean":
            return True if cleaned else (False if had or leaf.required else MISSING)
        if kind in ("lines", "choices"):
            if kind == "choices" and cleaned:
                chosen = dict(leaf.choices)
                return [chosen[key] for key in cleaned if key in chosen]
            return cleaned if cleaned else ([] if had else MISSING)
        if kind == "enum" and cleaned not in (None, ""):
            return dict(leaf.choices)[cleaned]
        if kind == "string" and cleaned:
            return cleaned
        if kind in ("integer", "number") and cleaned is not None:
            return cleaned
        if leaf.initial is None and leaf.nullable:
            return None
        if kind == "string" and had:
            return ""
        return MISSING

    def _clean(self) -> None:
        tree, failed = self._submitted_tree()
        if tree is None:
            return
        values = overrides(tree, self.defaults)
        for problem in schema_problems(self.schema, deep_merge(self.defaults, values)):
            # A field that could not be read keeps its old value for the check; what
            # the schema says about it would be about that old value.
            self._add_problem(problem, skip=failed)
        if not self._errors:
            self._values = values

    # --- switching editors -----------------------------------------------------------

    def _switch(self, target: Mode) -> None:
        tree, _failed = self._submitted_tree()
        if tree is None or self._errors:
            return  # stay, showing why the input could not be read
        typed = _holds_typed_secrets(tree, self.initial, self.secret_paths)
        if target == "yaml":
            self.mode = "yaml"
            self.yaml_form = _YamlForm(initial={YAML_FIELD: self.yaml_text(tree)})
        else:
            shown = deep_merge(self.defaults, overrides(tree, self.defaults))
            problems = self._form_cannot_show(shown)
            if problems:
                for problem in problems:
                    self._yaml_error(problem)
                return
            self.mode = "form"
            self.form = self._fields_form(None, shown)
        if typed:
            self._notice(_RETYPE)

    def _form_cannot_show(self, shown: Mapping[str, Any]) -> list[str]:
        """Why the form cannot show ``shown`` faithfully: the next form submission would
        change it silently."""
        assert self.layout is not None
        problems: list[str] = []

        def check(group: Group, value: Any) -> None:
            where = group.dotted or "The values"
            if value is MISSING:
                return
            if not isinstance(value, Mapping):
                problems.append(f"{where}: the form shows a mapping here; fix it in YAML first.")
                return
            initial = group.initial if isinstance(group.initial, Mapping) else {}
            for key in value.keys() - group.keys:
                if key not in initial or not same(value[key], initial[key]):
                    path = ".".join((*group.path, key))
                    problems.append(f"{path}: the form has no field for this key; edit it in YAML.")
            for child in group.children:
                child_value = value.get(child.path[-1], MISSING)
                if isinstance(child, Group):
                    check(child, child_value)
                elif child.kind not in ("secret", "secret_yaml") and not fits(child, child_value):
                    problems.append(
                        f"{child.dotted}: the form cannot show this value; fix it in YAML first."
                    )

        check(self.layout, shown)
        return sorted(problems)

    # --- errors -------------------------------------------------------------------------

    def _note(self, key: str, message: str) -> None:
        messages = self._errors.setdefault(key, [])
        if message not in messages:
            messages.append(message)

    def _yaml_error(self, message: str, *, key: str = "", short: str = "") -> None:
        """``message`` beside the YAML editor; in ``errors`` as ``short`` under ``key``."""
        self._note(key, short or message)
        errors = self.yaml_form.errors  # computes them on a bound form
        field_errors = errors.setdefault(YAML_FIELD, ErrorList(renderer=self.yaml_form.renderer))
        if message not in field_errors:
            field_errors.append(message)

    def _field_error(self, leaf: Leaf, message: str) -> None:
        self._note(leaf.dotted, message)
        errors = self.form.errors
        field_errors = errors.setdefault(leaf.name, ErrorList(renderer=self.form.renderer))
        if message not in field_errors:
            field_errors.append(message)

    @cached_property
    def _targets(self) -> list[tuple[str, Group | Leaf]]:
        """Every field and group by dotted path, longest first: the first that prefixes
        an error line is the most specific one."""
        if self.layout is None:
            return []
        found: list[tuple[str, Group | Leaf]] = [(node.dotted, node) for node in self.layout.walk()]
        return sorted(found, key=lambda pair: len(pair[0]), reverse=True)

    def _node_at(self, path: tuple[str, ...]) -> Group | Leaf | None:
        """The field or group whose path is the longest prefix of ``path``."""
        if self.layout is None:
            return None
        for _dotted, node in self._targets:
            if path[: len(node.path)] == node.path:
                return node
        return None

    def _schema_node(self, path: tuple[str, ...]) -> Mapping[str, Any]:
        """The schema of the value at ``path``, as far as plain ``properties`` lead (for
        the words of a problem below a field: its pattern, its default)."""
        node: Any = self.schema or {}
        for key in path:
            properties = node.get("properties") if isinstance(node, Mapping) else None
            if not isinstance(properties, Mapping) or not isinstance(properties.get(key), Mapping):
                return {}
            node = properties[key]
        return node if isinstance(node, Mapping) else {}

    def _add_problem(self, problem: SchemaProblem, skip: Iterable[str] = ()) -> None:
        """One schema problem in words, beside the field (or group) it is about."""
        path = problem.path
        if problem.validator == "required" and problem.key:
            path = (*path, problem.key)
        target = self._node_at(path) if self.mode == "form" else None
        if target is None:
            where = humanise(path[-1]) if path else "The values"
            text = problem_words(problem, where, self._schema_node(path))
            if self.mode == "yaml" or self.layout is None:
                label = ".".join(path)
                shown = f"{label}: {text}" if label else text
                self._yaml_error(shown, key=label, short=text)
            else:
                self._note("", f"{'.'.join(path)}: {text}" if path else text)
            return
        label = label_for(target.node, target.path[-1])
        below = path[len(target.path) :]
        if below:
            # Inside a YAML subtree: name the part the problem is about.
            # "Receivers, item 1: Name", "Labels: Release".
            parent = f"{label}, {path_words(below[:-1])}" if below[:-1] else label
            last = below[-1]
            label = (
                f"{parent}, {path_words(below)}"
                if last.isdigit()
                else f"{parent}: {humanise(last)}"
            )
        text = problem_words(problem, label, self._schema_node(path) or target.node)
        if isinstance(target, Leaf):
            if target.dotted not in skip:
                self._field_error(target, text)
        else:
            self._note(target.dotted, text)

    def _add_error_line(self, line: str, skip: Iterable[str] = ()) -> None:
        if self.mode == "yaml" or self.layout is None:
            path, _, message = line.partition(": ")
            self._yaml_error(line, key="" if path == "(root)" else path, short=message or line)
            return
        target: Group | Leaf = self.layout
        message = line.removeprefix("(root): ") if line.startswith("(root): ") else ""
        if not message:
            for dotted, node in self._targets:
                if line.startswith(f"{dotted}: "):
                    target, message = node, line[len(dotted) + 2 :]
                    break
                if line.startswith(f"{dotted}."):
                    # Deeper than any field: inside a YAML subtree, or a key the form
                    # does not show. The rest of the path stays in the message.
                    target, message = node, line[len(dotted) + 1 :]
                    break
            else:
                self._note("", line)
                return
        required = _REQUIRED.match(message)
        if isinstance(target, Group) and required:
            child = next((c for c in target.children if c.path[-1] == required["key"]), None)
            if child is not None:
                target, message = child, "A value is required."
        if isinstance(target, Leaf):
            if target.dotted not in skip:
                self._field_error(target, message)
        elif target is self.layout:
            self._note("", message if line.startswith("(root): ") else line)
        else:
            self._note(target.dotted, message)

    # --- helpers --------------------------------------------------------------------------

    def _notice(self, message: str) -> None:
        if message not in self.notices:
            self.notices.append(message)

    def _replace_shown(self, form: forms.Form, name: str, text: Any) -> None:
        """Show ``text`` in a bound field instead of what was posted (which held secrets
        the user typed), and ask for them again."""
        data = form.data.copy() if isinstance(form.data, QueryDict) else dict(form.data)
        data[name] = "" if text is None else text
        form.data = data
        self._notice(_RETYPE)


def _holds_typed_secrets(tree: Any, initial: Any, paths: list[SecretPath]) -> bool:
    """Whether ``tree`` holds secrets that ``initial`` does not (typed by the user): they
    would be lost, or shown, if the tree were shown again."""
    if not paths:
        return False
    return not same(restore_secrets(strip_secrets(tree, paths), initial, paths), tree)
