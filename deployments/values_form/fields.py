"""Django form fields for the leaves of a values form.

Fields only turn text into typed values. Whether a value is acceptable (ranges,
patterns, lengths, required keys) is decided afterwards by the package's JSON Schema
over the merged values, so that every problem is reported at once and the schema stays
the one authority; the fields pass the limits on to the browser as hints.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from django import forms
from django.core.exceptions import ValidationError

from deployments.values_form.layout import Leaf
from deployments.values_form.trees import MISSING, YamlInvalid, dump_yaml, parse_yaml, strip_secrets
from deployments.values_form.words import format_hint, label_for

# Longest text accepted in one string field, and most items in a one-per-line list.
MAX_TEXT_CHARS: Final = 64 * 1024
MAX_LINES: Final = 10_000
_MAX_DIGITS: Final = 64

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_BOOLEANS: Final = {"true": True, "false": False}


def parse_integer(text: str) -> int:
    text = text.strip()
    if len(text) > _MAX_DIGITS or not _INTEGER.fullmatch(text):
        raise ValidationError("Enter a whole number.", code="invalid")
    return int(text)


def parse_number(text: str) -> int | float:
    text = text.strip()
    if len(text) > _MAX_DIGITS or not _NUMBER.fullmatch(text):
        raise ValidationError("Enter a number.", code="invalid")
    if _INTEGER.fullmatch(text):
        return int(text)
    value = float(text)
    if math.isinf(value):
        raise ValidationError("Enter a number of a sensible size.", code="invalid")
    return value


def parse_scalar(kind: str, text: str) -> Any:
    if kind == "integer":
        return parse_integer(text)
    if kind == "number":
        return parse_number(text)
    if kind == "boolean":
        try:
            return _BOOLEANS[text.strip().lower()]
        except KeyError:
            raise ValidationError("Enter true or false.", code="invalid") from None
    return text


def _text(value: Any) -> str:
    # Browsers send textarea line breaks as CRLF.
    return str(value).replace("\r\n", "\n").replace("\r", "\n")


class _SchemaRequired(forms.Field):
    """``required`` marks the label only: an empty value is not refused here, because
    whether it is acceptable depends on the defaults and the schema, checked later."""

    def validate(self, value: Any) -> None:
        if value in self.empty_values:
            return
        super().validate(value)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        # The server's own length cap is no hint for the user: only the schema's
        # maxLength, set by make_field, goes into the page.
        attrs = super().widget_attrs(widget)
        attrs.pop("maxlength", None)
        attrs.pop("minlength", None)
        return attrs


class TextField(_SchemaRequired, forms.CharField):
    def to_python(self, value: Any) -> str | None:
        return super().to_python(_text(value) if value is not None else value)


class IntegerValueField(_SchemaRequired, forms.CharField):
    def clean(self, value: Any) -> int | None:
        text = super().clean(value)
        return parse_integer(text) if text else None


class NumberValueField(_SchemaRequired, forms.CharField):
    def clean(self, value: Any) -> int | float | None:
        text = super().clean(value)
        return parse_number(text) if text else None


class SecretField(_SchemaRequired, forms.CharField):
    """A write-only scalar: blank means "keep what is stored"."""

    def __init__(self, *, value_kind: str, **kwargs: Any) -> None:
        self.value_kind = value_kind
        super().__init__(strip=False, **kwargs)

    def clean(self, value: Any) -> Any:
        text = super().clean(value)
        return parse_scalar(self.value_kind, text) if text else None


class EnumField(_SchemaRequired, forms.ChoiceField):
    pass


class ChoicesField(_SchemaRequired, forms.MultipleChoiceField):
    pass


class LinesField(_SchemaRequired, forms.CharField):
    """A list of scalars, one per line; blank lines are skipped."""

    def __init__(self, *, item_kind: str, **kwargs: Any) -> None:
        self.item_kind = item_kind
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[Any] | None:
        text = _text(super().clean(value) or "")
        if not text.strip():
            return None
        lines = [(number, line.strip()) for number, line in enumerate(text.split("\n"), 1)]
        lines = [(number, line) for number, line in lines if line]
        if len(lines) > MAX_LINES:
            raise ValidationError(f"At most {MAX_LINES} lines.", code="too_many")
        items: list[Any] = []
        problems: list[str] = []
        for number, line in lines:
            try:
                items.append(parse_scalar(self.item_kind, line))
            except ValidationError as exc:
                problems.append(f"Line {number}: {exc.messages[0]}")
        if problems:
            more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
            raise ValidationError("; ".join(problems[:5]) + more, code="invalid")
        return items


class YamlField(_SchemaRequired, forms.CharField):
    """Any subtree as YAML; the clean value is MISSING when blank."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strip=False, **kwargs)

    def clean(self, value: Any) -> Any:
        text = _text(super().clean(value) or "")
        try:
            return parse_yaml(text)
        except YamlInvalid as exc:
            raise ValidationError(str(exc), code="invalid") from None


class BlankTextarea(forms.Textarea):
    """A textarea that never shows a value: for write-only subtrees."""

    def format_value(self, value: Any) -> str | None:
        return None


def _hints(leaf: Leaf) -> list[str]:
    node = leaf.node
    hints: list[str] = []
    description = node.get("description")
    if isinstance(description, str) and description.strip():
        hints.append(description.strip())
    kind = leaf.item_kind if leaf.kind in ("secret", "lines") else leaf.kind
    source = leaf.item_node if leaf.kind == "lines" else node
    if leaf.kind == "lines":
        hints.append("One item per line.")
    if kind in ("integer", "number"):
        hint = _range_hint(source)
        if hint:
            hints.append(f"A {'whole number' if kind == 'integer' else 'number'}: {hint}.")
    if kind == "string":
        # A regular expression is no help to a user: the format in words instead.
        hint = format_hint(source)
        if hint:
            each = f"Each line: {hint[0].lower()}{hint[1:]}"
            hints.append(each if leaf.kind == "lines" else hint)
    if leaf.kind in ("yaml", "secret_yaml"):
        shape = {"object": "a mapping", "array": "a list"}.get(leaf.container, "any value")
        hints.append(f"YAML: {shape}.")
    if leaf.kind in ("secret", "secret_yaml"):
        stored = leaf.initial is not MISSING and leaf.initial not in ("", None)
        hints.append(
            "Write-only: never shown again. Leave empty to keep the stored value."
            if stored
            else "Write-only: never shown again."
        )
    return hints


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _range_hint(node: Mapping[str, Any]) -> str:
    """``from 1 to 5``, ``above 0 and at most 1``, ``at least 0``..."""
    low = high = ""
    if _is_number(node.get("minimum")):
        low = f"at least {node['minimum']}"
    elif _is_number(node.get("exclusiveMinimum")):
        low = f"above {node['exclusiveMinimum']}"
    if _is_number(node.get("maximum")):
        high = f"at most {node['maximum']}"
    elif _is_number(node.get("exclusiveMaximum")):
        high = f"below {node['exclusiveMaximum']}"
    if low.startswith("at least") and high.startswith("at most"):
        return f"from {node['minimum']} to {node['maximum']}"
    return " and ".join(part for part in (low, high) if part)


def _attrs(leaf: Leaf, **extra: Any) -> dict[str, Any]:
    attrs = {"id": f"values-{leaf.index}", **extra}
    return {key: value for key, value in attrs.items() if value is not None}


def make_field(leaf: Leaf) -> forms.Field:
    """The Django field of one leaf, labelled with the schema title (or the key in
    words: ``maxBodyBytes`` is "Max body bytes")."""
    label = label_for(leaf.node, leaf.path[-1])
    common: dict[str, Any] = {
        "label": label,
        "help_text": " ".join(_hints(leaf)),
        "required": leaf.required,
    }
    node = leaf.node
    if leaf.kind == "string":
        multiline = isinstance(leaf.initial, str) and "\n" in leaf.initial
        text_attrs = _attrs(
            leaf,
            spellcheck="false",
            autocomplete="off",
            maxlength=node.get("maxLength") if _is_number(node.get("maxLength")) else None,
        )
        widget: forms.Widget = (
            forms.Textarea(attrs={**text_attrs, "rows": 4})
            if multiline
            else forms.TextInput(attrs=text_attrs)
        )
        return TextField(max_length=MAX_TEXT_CHARS, strip=not multiline, widget=widget, **common)
    if leaf.kind in ("integer", "number"):
        bounds = {
            "min": node.get("minimum") if _is_number(node.get("minimum")) else None,
            "max": node.get("maximum") if _is_number(node.get("maximum")) else None,
            "step": "1" if leaf.kind == "integer" else "any",
        }
        field_class = IntegerValueField if leaf.kind == "integer" else NumberValueField
        return field_class(widget=forms.NumberInput(attrs=_attrs(leaf, **bounds)), **common)
    if leaf.kind == "boolean":
        common["required"] = False  # a required checkbox would have to be ticked
        return forms.BooleanField(widget=forms.CheckboxInput(attrs=_attrs(leaf)), **common)
    if leaf.kind == "enum":
        choices = [(key, _choice_label(value)) for key, value in leaf.choices]
        if leaf.initial is MISSING and leaf.choice_key("") is None:
            choices.insert(0, ("", "Choose…" if leaf.required else "(not set)"))
        return EnumField(choices=choices, widget=forms.Select(attrs=_attrs(leaf)), **common)
    if leaf.kind == "choices":
        choices = [(key, _choice_label(value)) for key, value in leaf.choices]
        return ChoicesField(
            choices=choices, widget=forms.CheckboxSelectMultiple(attrs=_attrs(leaf)), **common
        )
    if leaf.kind == "lines":
        count = len(leaf.initial) if isinstance(leaf.initial, list) else 0
        rows = min(max(count + 1, 3), 12)
        return LinesField(
            item_kind=leaf.item_kind,
            widget=forms.Textarea(attrs=_attrs(leaf, rows=rows, spellcheck="false")),
            **common,
        )
    if leaf.kind == "secret":
        widget = forms.PasswordInput(
            attrs=_attrs(leaf, autocomplete="new-password"), render_value=False
        )
        return SecretField(
            value_kind=leaf.item_kind, max_length=MAX_TEXT_CHARS, widget=widget, **common
        )
    textarea_class = BlankTextarea if leaf.kind == "secret_yaml" else forms.Textarea
    text = display_value(leaf, leaf.initial)
    rows = min(max(str(text or "").count("\n") + 1, 4), 20)
    return YamlField(
        widget=textarea_class(
            attrs=_attrs(leaf, rows=rows, spellcheck="false", **{"class": "values-form__yaml"})
        ),
        **common,
    )


def _choice_label(value: Any) -> str:
    if isinstance(value, str):
        return value or "(empty)"
    return json.dumps(value)


def display_value(leaf: Leaf, value: Any) -> Any:
    """What the field shows for ``value``. A secret is never shown: not in its own
    field, not inside a YAML subtree."""
    if leaf.kind in ("secret", "secret_yaml") or value is MISSING:
        return None
    if leaf.kind == "yaml":
        return dump_yaml(strip_secrets(value, leaf.inner_secrets))
    if leaf.kind == "enum":
        return leaf.choice_key(value)  # null may be one of the choices
    if value is None:
        return None
    if leaf.kind == "choices":
        return [leaf.choice_key(item) for item in value]
    if leaf.kind == "lines":
        return "\n".join(_line_text(item) for item in value)
    return value


def _line_text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)
