"""The install form's values editor (deployments.values_form): a form generated from the values
schema, with a YAML editor as the alternative.

Pages are submitted the way a browser would: the rendered partial is parsed and its
inputs become the POST data (``browser_post``), so what is tested is what a user sees.
"""

from __future__ import annotations

import json
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.http import QueryDict
from django.template.loader import render_to_string

from deployments.values_form import MAX_YAML_BYTES, ValuesForm
from market.package.render import deep_merge
from market.package.schema import load_values, load_values_schema, schema_errors

DEMO_APPS = Path(__file__).resolve().parents[2] / "market" / "demo" / "apps"
SECRET = "hunter2-s3cr3t-value"
LIST_SECRET = "list-item-token-123"

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "$defs": {"duration": {"type": "string", "pattern": "^[0-9]+(s|m|h)$"}},
    "properties": {
        "name": {"type": "string", "minLength": 1, "title": "Display name"},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "description": "Pods."},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "enabled": {"type": "boolean"},
        "level": {"type": "string", "enum": ["debug", "info", "error"]},
        "interval": {"$ref": "#/$defs/duration", "description": "How often."},
        "image": {
            "type": "object",
            "required": ["repository", "tag"],
            "additionalProperties": False,
            "properties": {
                "repository": {"type": "string", "minLength": 1},
                "tag": {"type": "string", "minLength": 1},
            },
        },
        "targets": {"type": "array", "items": {"type": "string", "pattern": "^[a-z.]+:[0-9]+$"}},
        "ports": {"type": "array", "items": {"type": "integer"}},
        "features": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "receivers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string"},
                    "token": {"type": "string", "writeOnly": True},
                },
            },
        },
        "auth": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"password": {"type": "string", "writeOnly": True}},
        },
    },
}
DEFAULTS: dict[str, Any] = {
    "name": "demo",
    "replicas": 2,
    "ratio": 0.5,
    "enabled": True,
    "level": "info",
    "interval": "30s",
    "image": {"repository": "registry.example.org/demo", "tag": "1.0.0"},
    "targets": ["a.example:443"],
    "ports": [80, 443],
    "features": ["a"],
    "labels": {"release": "prometheus"},
    "receivers": [{"name": "chat"}],
    "auth": {"password": ""},
}


# --- helpers -------------------------------------------------------------------------


class _FormInputs(HTMLParser):
    """The name/value pairs a browser submits for the inputs of an HTML fragment
    (submit buttons excluded: pass the one pressed explicitly)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.pairs.append((a["name"], a.get("value") or "on"))
            else:
                self.pairs.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._options = a.get("name"), []
        elif tag == "option" and self._select:
            self._options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self._textarea, self._text = a.get("name"), []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected]
            self.pairs += [(self._select, v) for v in chosen or [self._options[0][0]]]
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            # The HTML parser keeps the newline right after <textarea>; browsers drop it.
            self.pairs.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None


def render(values_form: ValuesForm) -> str:
    return render_to_string("deployments/_values_form.html", {"values_form": values_form})


def browser_post(html: str, **changes: str | list[str] | None) -> QueryDict:
    """What a browser posts for the rendered partial, with ``changes`` applied (names
    with dots written with ``__``; None removes the input, as unchecking a box does)."""
    parser = _FormInputs()
    parser.feed(html)
    data = QueryDict(mutable=True)
    for name, text in parser.pairs:
        data.appendlist(name, text)
    for key, change in changes.items():
        field = key.replace("__", ".")
        data.pop(field, None)
        if isinstance(change, list):
            data.setlist(field, change)
        elif change is not None:
            data[field] = change
    return data


def shown(html: str, name: str) -> str:
    """The value a browser would post for the single input ``name``."""
    value = browser_post(html)[name]
    assert isinstance(value, str)
    return value


def submit(html: str, **changes: Any) -> ValuesForm:
    return ValuesForm(SCHEMA, defaults=DEFAULTS, data=browser_post(html, **changes))


def field_block(html: str, name: str) -> str:
    """The form-field <div> that holds the input named ``name``."""
    at = html.index(f'name="{name}"')
    start = html.rindex('<div class="form-field', 0, at)
    return html[start : html.index("\n</div>", at)]


def html_text(fragment: str) -> str:
    return unescape(fragment)


def demo_versions() -> list[Path]:
    return sorted(path.parent for path in DEMO_APPS.glob("*/*/values.schema.json"))


def demo(path: Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    schema = load_values_schema((path / "values.schema.json").read_bytes())
    return schema, load_values((path / "values.yaml").read_bytes())


# --- the form: types, defaults, current values -----------------------------------------


def test_every_type_round_trips_from_post_data_to_a_nested_dict() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS))
    form = submit(
        html,
        values__name="  renamed  ",
        values__replicas="3",
        values__ratio="0.25",
        values__enabled=None,
        values__level="error",
        values__interval="5m",
        values__image__tag="2.0.0",
        values__targets="b.example:80\r\n\r\nc.example:8080\r\n",
        values__ports="8080\n 9090 ",
        values__features=["b", "c"],
        values__labels="release: kube-prometheus\nteam: sre\n",
        values__receivers="- name: pager\n  token: abc\n",
    )
    assert form.is_valid(), form.errors
    assert form.values == {
        "name": "renamed",
        "replicas": 3,
        "ratio": 0.25,
        "enabled": False,
        "level": "error",
        "interval": "5m",
        "image": {"tag": "2.0.0"},
        "targets": ["b.example:80", "c.example:8080"],
        "ports": [8080, 9090],
        "features": ["b", "c"],
        "labels": {"team": "sre", "release": "kube-prometheus"},
        "receivers": [{"name": "pager", "token": "abc"}],
    }
    assert isinstance(form.values["ratio"], float) and isinstance(form.values["replicas"], int)


def test_unchanged_submission_gives_no_values_and_merges_back_to_the_defaults() -> None:
    form = submit(render(ValuesForm(SCHEMA, defaults=DEFAULTS)))
    assert form.is_valid(), form.errors
    assert form.values == {}


def test_fields_are_named_by_dotted_path_labelled_and_marked_required() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS))
    names = [name for name, _ in browser_post(html).lists()]
    assert "values.image.repository" in names and "values.auth.password" in names
    assert all(name.startswith("values.") or name == "values_mode" for name in names)
    assert 'name="values_mode" value="form"' in html
    assert ">Display name</label>" in html  # the schema title
    block = field_block(html, "values.image.tag")
    assert 'class="form-field__required"' in block
    # A pattern in words, never the regular expression (here through a $ref).
    interval = field_block(html, "values.interval")
    assert "Enter a duration like 60s (units: s, m, h)." in interval
    assert "^[0-9]" not in interval
    assert "Pods. A whole number: from 1 to 5." in field_block(html, "values.replicas")
    assert "A number: above 0 and at most 1." in field_block(html, "values.ratio")
    # A section whose required fields the defaults fill is shown closed.
    assert 'id="values-group-image" data-path="image">' in html


def test_defaults_fill_the_fields_and_current_values_go_on_top() -> None:
    current = {"replicas": 4, "image": {"tag": "9.9.9"}, "level": "debug", "enabled": False}
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS, current=current))
    data = browser_post(html)
    assert data["values.replicas"] == "4"
    assert data["values.image.tag"] == "9.9.9"
    assert data["values.image.repository"] == "registry.example.org/demo"
    assert data["values.level"] == "debug"
    assert "values.enabled" not in data  # unchecked
    assert data["values.ports"] == "80\n443"
    assert data.getlist("values.features") == ["a"]
    assert data["values.labels"] == "release: prometheus\n"
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, current=current, data=data)
    assert form.is_valid(), form.errors
    assert form.values == current


def test_blank_fields_mean_empty_string_default_or_nothing() -> None:
    html = render(ValuesForm(SCHEMA, defaults={"name": "x", "replicas": 2, "level": "info"}))
    data = browser_post(html, values__name="", values__replicas="")
    form = ValuesForm(SCHEMA, defaults={"name": "x", "replicas": 2, "level": "info"}, data=data)
    form.is_valid()
    # A string that had a value becomes "" (and breaks minLength here); a blank number
    # falls back to the default; untouched fields without a value stay absent.
    assert form.errors == {"name": ["Display name cannot be empty."]}
    assert "Display name cannot be empty." in field_block(render(form), "values.name")


def test_unchecked_box_is_false_and_a_new_box_left_alone_is_absent() -> None:
    defaults = {key: value for key, value in DEFAULTS.items() if key != "enabled"}
    html = render(ValuesForm(SCHEMA, defaults=defaults))
    untouched = ValuesForm(SCHEMA, defaults=defaults, data=browser_post(html))
    assert untouched.is_valid() and "enabled" not in untouched.values
    ticked = ValuesForm(SCHEMA, defaults=defaults, data=browser_post(html, values__enabled="on"))
    assert ticked.is_valid() and ticked.values == {"enabled": True}
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS))
    assert submit(html, values__enabled=None).values == {"enabled": False}


def test_keys_the_schema_does_not_describe_are_kept_in_the_form() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    current = {"a": 1, "legacy": {"x": [1, 2]}}
    html = render(ValuesForm(schema, defaults={}, current=current))
    form = ValuesForm(schema, defaults={}, current=current, data=browser_post(html))
    assert form.is_valid() and form.values == current


def test_values_that_do_not_fit_their_field_are_shown_as_yaml() -> None:
    # An older version's value of another type is shown as it is, not lost.
    current = {"replicas": "three", "ports": [{"port": 80}], "level": "trace"}
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS, current=current))
    data = browser_post(html)
    assert data["values.replicas"] == "three\n"
    assert data["values.ports"] == "- port: 80\n"
    assert data["values.level"] == "trace\n"
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, current=current, data=data)
    assert not form.is_valid()
    assert set(form.errors) == {"replicas", "ports", "level"}


# --- secrets ---------------------------------------------------------------------------


CURRENT_WITH_SECRETS = {
    "auth": {"password": SECRET},
    "receivers": [{"name": "chat", "token": LIST_SECRET}, {"name": "pager"}],
}


@pytest.mark.parametrize("mode", ["form", "yaml"])
def test_a_stored_secret_never_appears_in_the_html(mode: str) -> None:
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, current=CURRENT_WITH_SECRETS)
    if mode == "yaml":
        form = ValuesForm(
            SCHEMA,
            defaults=DEFAULTS,
            current=CURRENT_WITH_SECRETS,
            data=browser_post(render(form), values_switch="yaml"),
        )
        assert form.mode == "yaml"
    html = render(form)
    assert SECRET not in html and LIST_SECRET not in html
    assert 'type="password"' in html or mode == "yaml"
    if mode == "form":
        assert "Leave empty to keep the stored value." in field_block(html, "values.auth.password")
        assert "- name: chat\n" in shown(html, "values.receivers")
    else:
        text = shown(html, "values_yaml")
        assert "# Secret values (auth.password, receivers.*.token) are not shown." in text
        assert "password" not in text.split("not shown.")[1]


def test_a_stored_secret_is_not_shown_after_a_failed_submission_either() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS, current=CURRENT_WITH_SECRETS))
    form = ValuesForm(
        SCHEMA,
        defaults=DEFAULTS,
        current=CURRENT_WITH_SECRETS,
        data=browser_post(html, values__replicas="99", values__auth__password="new-typed-one"),
    )
    assert not form.is_valid()
    again = render(form)
    assert SECRET not in again and LIST_SECRET not in again and "new-typed-one" not in again


def test_empty_secret_on_upgrade_keeps_the_current_one() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS, current=CURRENT_WITH_SECRETS))
    form = ValuesForm(
        SCHEMA,
        defaults=DEFAULTS,
        current=CURRENT_WITH_SECRETS,
        data=browser_post(html, values__replicas="3"),
    )
    assert form.is_valid(), form.errors
    # values is complete: the caller stores it as it is, no merging onto current.
    assert form.values == {"replicas": 3, **CURRENT_WITH_SECRETS}


def test_a_typed_secret_replaces_the_current_one() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS, current=CURRENT_WITH_SECRETS))
    form = ValuesForm(
        SCHEMA,
        defaults=DEFAULTS,
        current=CURRENT_WITH_SECRETS,
        data=browser_post(html, values__auth__password="  new pass  "),
    )
    assert form.is_valid()
    assert form.values["auth"] == {"password": "  new pass  "}  # never stripped


def test_secrets_inside_list_items_follow_their_item_when_the_list_changes() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS, current=CURRENT_WITH_SECRETS))
    # The user removes "chat"... then adds it back below "pager", and edits "pager".
    reordered = "- name: pager2\n- name: chat\n"
    form = ValuesForm(
        SCHEMA,
        defaults=DEFAULTS,
        current=CURRENT_WITH_SECRETS,
        data=browser_post(html, values__receivers=reordered),
    )
    assert form.is_valid(), form.errors
    assert form.values["receivers"] == [
        {"name": "pager2"},
        {"name": "chat", "token": LIST_SECRET},
    ]


def test_a_secret_typed_into_a_yaml_field_is_not_echoed_back() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS))
    form = submit(
        html, values__receivers="- name: x\n  token: typed-token-42\n", values__replicas="0"
    )
    assert not form.is_valid()
    again = render(form)
    assert "typed-token-42" not in again
    assert "are not carried over" in again


# --- errors ------------------------------------------------------------------------------


def test_enum_select_refuses_an_unknown_value() -> None:
    form = submit(render(ValuesForm(SCHEMA, defaults=DEFAULTS)), values__level="trace")
    assert not form.is_valid()
    assert form.errors == {
        "level": ["Select a valid choice. trace is not one of the available choices."]
    }
    checkboxes = submit(render(ValuesForm(SCHEMA, defaults=DEFAULTS)), values__features=["z"])
    assert not checkboxes.is_valid() and list(checkboxes.errors) == ["features"]


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("values.replicas", "abc", "Enter a whole number."),
        ("values.replicas", "1.5", "Enter a whole number."),
        ("values.replicas", "0x10", "Enter a whole number."),
        ("values.replicas", "9" * 5000, "Enter a whole number."),  # past int() digit limit
        ("values.ratio", "1e999", "Enter a number of a sensible size."),
        ("values.ratio", "nan", "Enter a number."),
        ("values.ratio", "1_0", "Enter a number."),
        ("values.ports", "80\nhttp\n\n443\nx", "Line 2: Enter a whole number.; Line 5: Enter"),
        ("values.labels", "a: [1", "Not valid YAML: line 1:"),
        ("values.labels", "a: &x 1\nb: *x", "anchors (&x) are not allowed"),
        ("values.labels", "a: 1\na: 2", "duplicate key 'a'"),
        ("values.labels", "a: !!python/object:os.system x", "tag !!python/object:os.system"),
        ("values.labels", "x: " + "[" * 100 + "]" * 100, "nested deeper than 64 levels"),
        ("values.name", "x" * 70_000, "Ensure this value has at most 65536 characters"),
    ],
)
def test_input_that_cannot_be_read_is_an_error_beside_its_field(
    field: str, text: str, message: str
) -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS))
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, data=browser_post(html, **{field: text}))
    assert not form.is_valid()
    path = field.removeprefix("values.")
    assert list(form.errors) == [path]
    assert form.errors[path][0].startswith(message) or message in form.errors[path][0]
    assert message.split(":")[0] in html_text(field_block(render(form), field))


def test_schema_errors_appear_beside_the_right_fields_and_all_are_listed() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS))
    form = submit(
        html,
        values__replicas="9",
        values__ratio="0",
        values__interval="soon",
        values__image__tag="",
        values__targets="ok.example:1\nNOT VALID",
        values__labels="release: 3\n",
        values__receivers="- token: t\n",
    )
    assert not form.is_valid()
    assert form.errors == {
        "image.tag": ["Tag cannot be empty."],
        "interval": ["Interval must be a duration like 60s (units: s, m, h)."],
        "labels": ["Labels: Release must be text."],
        "ratio": ["Ratio must be more than 0."],
        "receivers": ["Receivers, item 1: Name is required."],
        "replicas": ["Replicas must be at most 5."],
        "targets": ["Targets, item 2 is not in the format this app expects."],
    }
    again = render(form)
    for name, messages in form.errors.items():
        assert messages[0] in html_text(field_block(again, f"values.{name}"))
        assert "form-field--invalid" in field_block(again, f"values.{name}")


def test_a_missing_required_key_is_reported_on_its_field() -> None:
    defaults = {key: value for key, value in DEFAULTS.items() if key != "image"}
    html = render(ValuesForm(SCHEMA, defaults=defaults))
    form = ValuesForm(
        SCHEMA, defaults=defaults, data=browser_post(html, values__image__repository="r")
    )
    assert not form.is_valid()
    assert form.errors == {"image.tag": ["Tag is required."]}
    untouched = ValuesForm(SCHEMA, defaults=defaults, data=browser_post(html))
    assert untouched.is_valid() and "image" not in untouched.values  # an optional group


def test_add_schema_errors_places_lines_from_validate_values() -> None:
    form = submit(render(ValuesForm(SCHEMA, defaults=DEFAULTS)))
    assert form.is_valid()
    # A service found more, later (a ValuesInvalid from render_templates, say).
    form.add_schema_errors(
        [
            "(root): 'name' is a required property",
            "(root): Additional properties are not allowed ('extra' was unexpected)",
            "image: Additional properties are not allowed ('x' was unexpected)",
            "image.tag: 'v' is too short",
            "receivers.0.name: 3 is not of type 'string'",
            "nowhere: something odd",
        ]
    )
    assert not form.is_valid()
    assert form.errors == {
        "": [
            "Additional properties are not allowed ('extra' was unexpected)",
            "nowhere: something odd",
        ],
        "name": ["A value is required."],
        "image": ["Additional properties are not allowed ('x' was unexpected)"],
        "image.tag": ["'v' is too short"],
        "receivers": ["0.name: 3 is not of type 'string'"],
    }
    html = html_text(render(form))
    fieldset = html[html.index('data-path="image"') : html.index("</fieldset>")]
    assert "Additional properties are not allowed ('x' was unexpected)" in fieldset
    assert '<div class="form__errors values-form__errors" role="alert">' in html
    assert "nowhere: something odd" in html


def test_errors_about_secrets_never_quote_them() -> None:
    schema = {
        "type": "object",
        "properties": {"token": {"type": "string", "writeOnly": True, "minLength": 40}},
    }
    html = render(ValuesForm(schema, defaults={}))
    form = ValuesForm(schema, defaults={}, data=browser_post(html, values__token="short-secret"))
    assert not form.is_valid()
    assert form.errors == {"token": ["Token must be at least 40 characters long."]}
    assert "short-secret" not in render(form)


# --- YAML mode ----------------------------------------------------------------------------


def yaml_page(current: dict[str, Any] | None = None) -> str:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS, current=current))
    switched = ValuesForm(
        SCHEMA, defaults=DEFAULTS, current=current, data=browser_post(html, values_switch="yaml")
    )
    assert switched.switching and not switched.is_valid() and switched.errors == {}
    return render(switched)


def test_switching_to_yaml_carries_the_edited_values() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS))
    switched = submit(html, values__replicas="4", values_switch="yaml")
    assert switched.mode == "yaml" and not switched.is_valid() and switched.errors == {}
    page = render(switched)
    assert 'name="values_mode" value="yaml"' in page
    text = shown(page, "values_yaml")
    assert "replicas: 4\n" in text and "tag: 1.0.0\n" in text
    done = ValuesForm(SCHEMA, defaults=DEFAULTS, data=browser_post(page))
    assert done.is_valid(), done.errors
    assert done.values == {"replicas": 4}


def test_yaml_mode_round_trips_and_switches_back_to_the_form() -> None:
    page = yaml_page()
    text = shown(page, "values_yaml").replace("replicas: 2", "replicas: 5")
    back = ValuesForm(
        SCHEMA,
        defaults=DEFAULTS,
        data=browser_post(page, values_yaml=text, values_switch="form"),
    )
    assert back.mode == "form" and back.switching
    html = render(back)
    assert shown(html, "values.replicas") == "5"
    done = submit(html)
    assert done.is_valid() and done.values == {"replicas": 5}


def test_switching_to_the_form_is_refused_for_what_the_form_cannot_show() -> None:
    page = yaml_page()
    text = shown(page, "values_yaml") + "replicas_typo: 1\n"
    text = text.replace("replicas: 2", "replicas: two")
    stay = ValuesForm(
        SCHEMA, defaults=DEFAULTS, data=browser_post(page, values_yaml=text, values_switch="form")
    )
    assert stay.mode == "yaml"
    assert stay.errors == {
        "": [
            "replicas: the form cannot show this value; fix it in YAML first.",
            "replicas_typo: the form has no field for this key; edit it in YAML.",
        ]
    }
    assert "replicas_typo: the form has no field" in render(stay)


def test_yaml_mode_keeps_secrets_left_out_and_takes_typed_ones() -> None:
    page = yaml_page(CURRENT_WITH_SECRETS)
    kept = ValuesForm(
        SCHEMA, defaults=DEFAULTS, current=CURRENT_WITH_SECRETS, data=browser_post(page)
    )
    assert kept.is_valid() and kept.values == CURRENT_WITH_SECRETS
    text = shown(page, "values_yaml") + "auth:\n  password: ''\n"
    text = text.replace("auth: {}\n", "")
    cleared = ValuesForm(
        SCHEMA,
        defaults=DEFAULTS,
        current=CURRENT_WITH_SECRETS,
        data=browser_post(page, values_yaml=text),
    )
    assert cleared.is_valid(), cleared.errors
    assert "auth" not in cleared.values  # "" is the default


def test_yaml_mode_lists_every_schema_error_beside_the_editor() -> None:
    page = yaml_page()
    text = shown(page, "values_yaml").replace("replicas: 2", "replicas: 7")
    text = text.replace("interval: 30s", "interval: later")
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, data=browser_post(page, values_yaml=text))
    assert not form.is_valid()
    assert form.errors == {
        "interval": ["Interval must be a duration like 60s (units: s, m, h)."],
        "replicas": ["Replicas must be at most 5."],
    }
    block = html_text(field_block(render(form), "values_yaml"))
    assert "interval: Interval must be a duration like 60s" in block
    assert "replicas: Replicas must be at most 5." in block


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- a\n- b\n",
            "The values must be a mapping (key: value lines) at the top level, not a list.",
        ),
        ("just text", "not a string."),
        ("a: [1\n", "Not valid YAML: line 2:"),
        ("a: &x 1\nb: *x\n", "anchors (&x) are not allowed"),
        ("a: 1\na: 1\n", "duplicate key 'a'"),
        ("? [1]\n: x\n", "mapping keys must be strings"),
        ("a: !!binary aGk=\n", "tag !!binary is not allowed"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
        ("a: " + "[" * 2000, "nested deeper than 64 levels"),
        ("a: .nan\n", "NaN and infinite numbers are not allowed"),
        ("x: '" + "y" * MAX_YAML_BYTES + "'\n", "The YAML is over 256 KiB."),
    ],
)
def test_hostile_or_broken_yaml_is_a_clear_error_beside_the_editor(text: str, message: str) -> None:
    page = yaml_page()
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, data=browser_post(page, values_yaml=text))
    assert not form.is_valid()
    assert len(form.non_field_errors) == 1 and message in form.non_field_errors[0]
    block = html_text(field_block(render(form), "values_yaml"))
    assert "form-field--invalid" in block and message in block


def test_an_empty_yaml_editor_means_the_defaults() -> None:
    page = yaml_page()
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, data=browser_post(page, values_yaml="# nothing\n"))
    assert form.is_valid() and form.values == {}


# --- schemas the form cannot show -------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    [
        None,
        {"type": "object"},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"oneOf": [{"type": "object"}, {"type": "array"}]},
        {"type": "object", "properties": {}},
        {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}},
    ],
)
def test_without_a_usable_schema_only_yaml_is_offered(schema: dict[str, Any] | None) -> None:
    form = ValuesForm(schema, defaults={"a": "1"})
    assert not form.form_available and form.mode == "yaml"
    html = render(form)
    assert "values_switch" not in html and "This app's values are edited as YAML" in html
    data = browser_post(html, values_yaml="a: '2'\nb: [1]\n")
    done = ValuesForm(schema, defaults={"a": "1"}, data=data)
    # A posted "form" mode for a YAML-only schema is read as YAML all the same.
    assert done.mode == "yaml"
    if schema is None or (schema.get("type") == "object" and "additionalProperties" not in schema):
        assert done.is_valid(), done.errors
        assert done.values == {"a": "2", "b": [1]}


def test_odd_but_valid_schemas_fall_back_to_yaml_per_subtree() -> None:
    schema = {
        "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}},
        "type": "object",
        "properties": {
            "tree": {"$ref": "#/$defs/node"},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}]},
            "anything": True,
            "never": False,
            "multi": {"type": ["string", "integer"]},
            "maybe": {"type": ["string", "null"]},
            "dotted.key": {"type": "string"},
            "sli": {
                "type": "object",
                "properties": {"good": {"type": "string"}, "bad": {"type": "string"}},
                "oneOf": [{"required": ["good"]}, {"required": ["bad"]}],
            },
        },
    }
    defaults = {"either": 3, "maybe": None, "dotted.key": "v", "sli": {"good": "g"}}
    form = ValuesForm(schema, defaults=defaults)
    html = render(form)
    data = browser_post(html)
    assert "values.never" not in data
    assert data["values.either"] == "3\n"
    assert data["values.dotted~1key"] == "v"
    assert data["values.sli.good"] == "g"  # oneOf of required keys only: still a form
    assert data["values.tree.child.child.child.child.child"] is not None  # depth cut to YAML
    done = ValuesForm(
        schema,
        defaults=defaults,
        data=browser_post(html, **{"values.dotted~1key": "w", "values.either": "x"}),
    )
    assert done.is_valid(), done.errors
    assert done.values == {"dotted.key": "w", "either": "x"}


def test_posted_garbage_is_ignored_or_refused_without_an_exception() -> None:
    html = render(ValuesForm(SCHEMA, defaults=DEFAULTS))
    data = browser_post(html)
    data["values.unknown"] = "x"
    data["values_switch"] = "sideways"
    data.setlist("values.replicas", ["1", "2", "3"])
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, data=data)
    assert form.mode == "form" and not form.switching
    assert form.is_valid() and form.values == {"replicas": 3}


@pytest.mark.parametrize("mode", [None, "", "<script>", "FORM"])
def test_a_submission_without_the_editor_reads_nothing(mode: str | None) -> None:
    # Absent fields would otherwise read as unticked boxes and empty texts.
    data = QueryDict(mutable=True)
    data["name"] = "my-instance"
    if mode is not None:
        data["values_mode"] = mode
    form = ValuesForm(SCHEMA, defaults=DEFAULTS, data=data)
    assert not form.is_valid()
    assert form.errors == {
        "": ["The values editor was not part of the submission; reload the page."]
    }
    assert "reload the page" in render(form)


# --- the demo packages ------------------------------------------------------------------------


@pytest.mark.parametrize("version", demo_versions(), ids=lambda p: f"{p.parent.name}-{p.name}")
def test_every_demo_package_round_trips_through_the_form_and_yaml(version: Path) -> None:
    schema, defaults = demo(version)
    form = ValuesForm(schema, defaults=defaults)
    assert form.form_available
    html = render(form)
    # Required values without a default (none in the demos) would be reported here.
    posted = ValuesForm(schema, defaults=defaults, data=browser_post(html))
    assert posted.is_valid(), posted.errors
    assert posted.values == {}
    switched = ValuesForm(schema, defaults=defaults, data=browser_post(html, values_switch="yaml"))
    assert switched.mode == "yaml"
    again = ValuesForm(schema, defaults=defaults, data=browser_post(render(switched)))
    assert again.is_valid(), again.errors
    assert again.values == {}


def test_a_demo_upgrade_keeps_its_secret_and_reports_schema_errors_beside_fields() -> None:
    schema, defaults = demo(DEMO_APPS / "redis-ops" / "2.0.0")
    current = {"auth": {"password": SECRET}, "replicas": 5}
    html = render(ValuesForm(schema, defaults=defaults, current=current))
    assert SECRET not in html
    form = ValuesForm(
        schema,
        defaults=defaults,
        current=current,
        data=browser_post(
            html,
            values__replicas="12",
            values__persistence__size="8GB",
            values__metrics__rules__memoryWarningRatio="1.5",
            values__config__maxmemoryPolicy="everything",
        ),
    )
    assert not form.is_valid()
    assert form.errors == {
        "config.maxmemoryPolicy": [
            "Select a valid choice. everything is not one of the available choices."
        ],
        "metrics.rules.memoryWarningRatio": ["Memory warning ratio must be at most 1."],
        "persistence.size": ["Size must be a size like 8Gi (units: Mi, Gi, Ti)."],
        "replicas": ["Replicas must be at most 9."],
    }
    fixed = ValuesForm(
        schema,
        defaults=defaults,
        current=current,
        data=browser_post(html, values__replicas="7"),
    )
    assert fixed.is_valid()
    assert fixed.values == {"auth": {"password": SECRET}, "replicas": 7}
    assert schema_errors(schema, deep_merge(defaults, fixed.values)) == []


def test_demo_schemas_use_every_kind_of_field() -> None:
    kinds: set[str] = set()
    for version in demo_versions():
        schema, defaults = demo(version)
        form = ValuesForm(schema, defaults=defaults)
        assert form.layout is not None
        kinds |= {getattr(node, "kind", "group") for node in form.layout.walk()}
    assert kinds >= {"group", "string", "integer", "number", "boolean", "enum", "lines"}
    assert kinds >= {"yaml", "secret"}


def test_values_before_is_valid_is_an_error() -> None:
    form = ValuesForm(SCHEMA, defaults=DEFAULTS)
    assert not form.is_valid()
    with pytest.raises(ValueError, match="only available when is_valid"):
        _ = form.values
    assert json.dumps(form.errors) == "{}"


def test_a_write_only_object_is_a_blank_yaml_field_that_keeps_what_is_stored() -> None:
    schema = {
        "type": "object",
        "properties": {
            "credentials": {
                "type": "object",
                "writeOnly": True,
                "properties": {"user": {"type": "string"}, "key": {"type": "string"}},
            },
            "mode": {"enum": ["fast", None, 3]},
        },
    }
    current = {"credentials": {"user": "svc", "key": SECRET}, "mode": None}
    html = render(ValuesForm(schema, defaults={}, current=current))
    assert SECRET not in html and "svc" not in html
    assert shown(html, "values.credentials") == ""
    assert shown(html, "values.mode") == "null"
    kept = ValuesForm(schema, defaults={}, current=current, data=browser_post(html))
    assert kept.is_valid() and kept.values == current
    replaced = ValuesForm(
        schema,
        defaults={},
        current=current,
        data=browser_post(html, values__credentials="user: other\nkey: k2\n", values__mode="3"),
    )
    assert replaced.is_valid()
    assert replaced.values == {"credentials": {"user": "other", "key": "k2"}, "mode": 3}
