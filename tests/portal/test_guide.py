"""The user guide under Docs: its pages in reading order, the component docs one
level down."""

from __future__ import annotations

import pytest

from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client):
    client.force_login(make_user())
    return client


def test_docs_lists_the_guide_in_reading_order_and_the_reference_below(logged_in):
    html = logged_in.get("/docs/").content.decode()

    order = [html.index(f'href="/docs/guide/{slug}/"') for slug in
             ("installing", "upgrading", "publishing", "building")]  # fmt: skip
    assert order == sorted(order)
    assert html.index("User guide") < html.index('href="/docs/components/"')
    assert 'class="nav__link is-active" href="/docs/" aria-current="page">Docs</a>' in html


def test_a_guide_page_is_rendered_with_its_breadcrumbs(logged_in):
    response = logged_in.get("/docs/guide/publishing/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "<h1" in html and "Publishing an app" in html
    assert "<table>" in html and "<code>manifest.yaml</code>" in html
    assert '<a href="/docs/">Docs</a>' in html


def test_component_docs_sit_one_level_down(logged_in):
    html = logged_in.get("/docs/components/tabs/").content.decode()

    assert '<a href="/docs/">Docs</a>' in html
    assert '<a href="/docs/components/">UI components</a>' in html


@pytest.mark.parametrize("slug", ["nope", "..", "components", "installing.md"])
def test_unknown_guide_pages_are_404(logged_in, slug):
    assert logged_in.get(f"/docs/guide/{slug}/").status_code == 404


def test_the_guide_needs_a_login(client):
    assert client.get("/docs/guide/installing/").status_code == 302
