"""The site shell: base layout, home page, error pages, login templates, API docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.template import loader
from django.test import Client

from tests.factories import PASSWORD, make_team, make_user

STATIC_REF_RE = re.compile(r'(?:href|src)="/static/([^"?#]+)"')


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


# --- base layout ------------------------------------------------------------------


@pytest.mark.django_db
def test_home_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "next=/" in response["Location"]


@pytest.mark.django_db
def test_base_layout_has_navigation_search_and_user_menu(logged_in, user):
    html = logged_in.get("/").content.decode()
    for label, href in [
        ("Market", "/market/"),
        ("Instances", "/instances/"),
        ("Builds", "/builds/"),
        ("Docs", "/docs/"),
    ]:
        assert f'href="{href}">{label}</a>' in html
    assert 'action="/search/"' in html
    assert 'data-suggest-url="/search/suggest/"' in html
    assert 'href="/accounts/profile/"' in html
    assert re.search(
        r'<form method="post" action="/accounts/logout/">\s*<input type="hidden"', html
    )
    assert user.username in html


@pytest.mark.django_db
def test_admin_link_is_shown_only_to_staff(client, user, staff_user):
    client.force_login(user)
    assert 'href="/admin/"' not in client.get("/").content.decode()
    client.force_login(staff_user)
    assert '<a class="nav__link" href="/admin/">Admin</a>' in client.get("/").content.decode()


@pytest.mark.django_db
def test_current_section_is_highlighted(logged_in):
    html = logged_in.get("/docs/components/").content.decode()
    assert '<a class="nav__link is-active" href="/docs/" aria-current="page">Docs</a>' in html
    assert '<a class="nav__link" href="/market/">Market</a>' in html
    api_docs = logged_in.get("/api/docs/").content.decode()
    assert 'is-active" href="/docs/" aria-current="page">Docs</a>' in api_docs


@pytest.mark.django_db
def test_htmx_requests_carry_the_csrf_token(logged_in):
    html = logged_in.get("/").content.decode()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert token is not None
    assert f"""hx-headers='{{"X-CSRFToken": "{token.group(1)}"}}'""" in html


@pytest.mark.django_db
def test_pages_have_no_inline_scripts(logged_in):
    # A strict Content-Security-Policy must be possible: every script is a file.
    for url in ["/", "/docs/components/", "/docs/components/tabs/", "/api/docs/"]:
        html = logged_in.get(url).content.decode()
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], url
        assert " onclick=" not in html


@pytest.mark.django_db
def test_static_files_referenced_by_the_layout_exist(logged_in):
    static_dir = Path(django_settings.BASE_DIR) / "static"
    referenced = set()
    for url in ["/", "/api/docs/"]:
        referenced |= set(STATIC_REF_RE.findall(logged_in.get(url).content.decode()))
    assert {
        "css/portal.css",
        "js/portal.js",
        "vendor/htmx/htmx.min.js",
        "vendor/swagger-ui/swagger-ui-bundle.js",
        "vendor/swagger-ui/swagger-ui.css",
        "js/api-docs.js",
    } <= referenced
    for name in referenced:
        assert (static_dir / name).is_file(), name
    assert (static_dir / "vendor/htmx/LICENSE").is_file()
    assert (static_dir / "vendor/swagger-ui/LICENSE").is_file()


def test_no_asset_is_loaded_from_another_origin():
    templates = Path(django_settings.BASE_DIR) / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r'(?:src|href)="(?:https?:)?//', text), path


def test_shell_and_components_need_no_inline_styles():
    # style-src 'self' in a strict CSP refuses <style> blocks and style="" attributes.
    templates = Path(django_settings.BASE_DIR) / "templates"
    shell = [
        *templates.glob("*.html"),
        *(templates / "components").glob("*.html"),
        *(templates / "docs").rglob("*.html"),
        *(templates / "registration").glob("*.html"),
        templates / "portal" / "home.html",
        templates / "portal" / "api_docs.html",
    ]
    for path in shell:
        text = path.read_text()
        assert "<style" not in text and " style=" not in text, path


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.error_urls")
def test_flash_messages_are_shown_escaped_and_dismissable(logged_in):
    response = logged_in.get("/test/flash/", follow=True)
    html = response.content.decode()
    assert 'class="flash flash--success" role="status"' in html
    assert "Installed &lt;b&gt;log-analyzer&lt;/b&gt;." in html
    assert 'class="flash flash--error" role="alert"' in html
    assert html.count("data-dismiss") == 2


# --- home -------------------------------------------------------------------------


@pytest.mark.django_db
def test_home_lists_the_users_teams_and_roles(logged_in, user):
    make_team("payments-sre", members={user: "operator"})
    make_team("platform", members={user: "viewer"})
    make_team("someone-elses")
    html = logged_in.get("/").content.decode()
    assert "Welcome, alice" in html
    assert "payments-sre" in html and "Operator" in html
    assert "platform" in html
    assert "someone-elses" not in html


@pytest.mark.django_db
def test_home_explains_what_to_do_without_a_team(logged_in):
    assert "You are not in any team yet" in logged_in.get("/").content.decode()


# --- error pages ------------------------------------------------------------------


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    return settings


@pytest.mark.django_db
def test_404_page_is_friendly(client, production):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "This page doesn't exist" in html
    assert 'href="/"' in html


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.error_urls")
def test_403_page_is_friendly(logged_in, production):
    response = logged_in.get("/test/denied/")
    assert response.status_code == 403
    assert "You don't have access to this page" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.error_urls")
def test_400_page_is_friendly(client, production):
    response = client.get("/test/bad/")
    assert response.status_code == 400
    assert "The request could not be understood" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.error_urls")
def test_500_page_is_friendly(client, production):
    client.raise_request_exception = False
    response = client.get("/test/boom/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong on our side" in html
    assert 'href="/"' in html


def test_500_and_400_pages_render_without_request_or_database():
    # Django renders them with an empty context: no context processors, no user.
    for name in ["500.html", "400.html"]:
        html = loader.get_template(name).render()
        assert "Go to the home page" in html
        assert "/static/css/portal.css" in html


@pytest.mark.django_db
def test_csrf_failure_page_is_friendly(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/", {})
    assert response.status_code == 403
    assert "That form could not be sent" in response.content.decode()


# --- login templates --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.error_urls")
def test_login_page_renders_the_form_with_form_fields(client):
    html = client.get("/test/login/", {"next": "/market/"}).content.decode()
    assert 'name="username"' in html
    assert 'type="password"' in html
    assert '<input type="hidden" name="next" value="/market/">' in html
    assert ">Log in</button>" in html
    assert 'class="form-field__label" for="id_username"' in html


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.error_urls")
def test_login_page_shows_errors_for_a_wrong_password(client):
    make_user("bob")
    response = client.post("/test/login/", {"username": "bob", "password": PASSWORD + "x"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="form__errors" role="alert"' in html
    assert "Please enter a correct username and password" in html


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.error_urls")
def test_login_page_logs_in_and_follows_next(client):
    make_user("bob")
    response = client.post(
        "/test/login/", {"username": "bob", "password": PASSWORD, "next": "/docs/components/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/docs/components/"


def test_logged_out_page_links_back_to_login():
    html = loader.get_template("registration/logged_out.html").render()
    assert 'href="/accounts/login/"' in html


# --- API docs -------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_docs_require_login(client):
    response = client.get("/api/docs/")
    assert response.status_code == 302


@pytest.mark.django_db
def test_api_docs_load_the_schema_with_the_session(logged_in):
    response = logged_in.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-schema-url="/api/v1/schema/?format=json"' in html
    schema = logged_in.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Ops Market API"
