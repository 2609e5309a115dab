"""The values editor in a real browser: which button a keypress or a click submits.

The partial is rendered into a bare page (no server needed) inside a form whose own
submit button comes after it, as on the install page; the page's POST is caught by a
route handler instead of a server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from django.template.loader import render_to_string
from playwright.sync_api import Browser, Page, Route, expect

from deployments.values_form import ValuesForm

STATIC = Path(__file__).resolve().parents[2] / "static" / "css"
ACTION = "http://values-form.test/install"
SCHEMA = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
        "image": {"type": "object", "properties": {"tag": {"type": "string"}}},
        "auth": {
            "type": "object",
            "properties": {"password": {"type": "string", "writeOnly": True}},
        },
    },
}


@pytest.fixture
def install_page(browser: Browser) -> Iterator[tuple[Page, list[dict[str, list[str]]]]]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    posted: list[dict[str, list[str]]] = []

    def capture(route: Route) -> None:
        posted.append(parse_qs(route.request.post_data or "", keep_blank_values=True))
        route.fulfill(status=200, content_type="text/html", body="<p>posted</p>")

    page.route(f"{ACTION}*", capture)
    partial = render_to_string(
        "deployments/_values_form.html",
        {
            "values_form": ValuesForm(
                SCHEMA,
                defaults={"replicas": 9, "image": {"tag": "1.0"}},
                current={"auth": {"password": "stored-secret"}},
            )
        },
    )
    page.set_content(
        f'<form class="form" method="post" action="{ACTION}" novalidate>{partial}'
        '<div class="form__actions"><button type="submit" class="button">Install</button></div>'
        "</form>"
    )
    for name in ("portal.css", "market.css", "values-form.css"):
        page.add_style_tag(path=str(STATIC / name))
    yield page, posted
    context.close()


def test_enter_in_a_field_submits_the_page_not_an_editor_switch(
    install_page: tuple[Page, list[dict[str, list[str]]]],
) -> None:
    page, posted = install_page
    # image holds nothing required: an advanced section, closed until opened.
    expect(page.get_by_label("Tag")).to_be_hidden()
    page.locator("summary", has_text="Advanced settings").click()
    page.locator("summary", has_text="Image").click()
    page.get_by_label("Tag").press("Enter")
    page.wait_for_selector("text=posted")
    assert len(posted) == 1
    assert "values_switch" not in posted[0]
    assert posted[0]["values_mode"] == ["form"]
    assert posted[0]["values.image.tag"] == ["1.0"]


def test_the_switch_posts_the_editor_even_with_a_value_out_of_range(
    install_page: tuple[Page, list[dict[str, list[str]]]],
) -> None:
    page, posted = install_page
    # replicas is 9 with a maximum of 5: browser validation must not block the switch.
    page.get_by_role("button", name="YAML").click()
    page.wait_for_selector("text=posted")
    assert posted[0]["values_switch"] == ["yaml"]


def test_the_default_button_takes_no_room_and_the_secret_is_not_in_the_page(
    install_page: tuple[Page, list[dict[str, list[str]]]],
) -> None:
    page, _ = install_page
    box = page.locator(".values-form__default").bounding_box()
    assert box is not None and box["width"] <= 1 and box["height"] <= 1
    assert "stored-secret" not in page.content()
    assert page.get_by_label("Password").input_value() == ""
