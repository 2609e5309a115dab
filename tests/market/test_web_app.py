"""App pages, docs pages and icons: what they show, what they never let through."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from market.models import App
from portal.models import Role
from tests.factories import make_team, make_user
from tests.market.catalogue_factories import make_app, make_market

pytestmark = pytest.mark.django_db

HOSTILE_README = """# Log Analyzer

<script>alert("readme")</script>
<img src="https://example.org/x.png" onerror="alert('img')">
<a href="javascript:alert('link')">click me</a>
[markdown link](javascript:alert('md'))
[data link](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)
<div onclick="alert('div')" style="position:fixed;inset:0">cover</div>
<iframe src="https://evil.example/"></iframe>
<form action="https://evil.example/"><input name="password"></form>
<svg><script>alert('svg')</script></svg>
<h2 id="main">Clobber</h2>

| key | default |
|---|---|
| `replicas` | `2` |

See [the routing guide](docs/routing.md#tls) and [upstream](https://example.org/docs).
"""


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def market():
    return make_market("main")


@pytest.fixture
def analyzer(market):
    return make_app(
        market,
        "log-analyzer",
        versions=("1.3.0", "1.4.2"),
        title="Log Analyzer",
        summary="Finds error bursts in container logs",
        keywords=["logs", "alerting"],
        dependencies=[
            {"name": "redis-ops", "version": ">=1.2.0 <2.0.0"},
            {"name": "log-collector", "version": "^1.0.0"},
        ],
        readme=HOSTILE_README,
        docs={
            "docs/routing.md": "# Routing\n\nBack to [operations](operations.md).\n"
            "<script>alert('doc')</script>\n",
            "docs/operations.md": "# Operations\n\nRun it.\n",
        },
    )


def test_app_page_shows_header_summary_and_install_needs_an_operator(logged_in, analyzer):
    response = logged_in.get("/market/main/log-analyzer/")
    html = response.content.decode()

    assert response.status_code == 200
    assert '<h1 class="page-header__title">Log Analyzer</h1>' in html
    assert "Finds error bursts in container logs" in html
    assert '<a href="/market/">Market</a>' in html  # breadcrumbs
    assert re.search(r"<button[^>]*disabled[^>]*>Install</button>", html)
    assert 'title="Installing needs the operator role in a team"' in html


def test_app_page_install_links_to_the_install_form_for_operators(client, analyzer):
    operator = make_user("opie")
    make_team("ops", members={operator: Role.OPERATOR})
    client.force_login(operator)

    html = client.get("/market/main/log-analyzer/").content.decode()

    assert (
        '<a class="button button--primary" href="/instances/new/?market=main&amp;'
        'app=log-analyzer&amp;version=1.4.2">Install</a>'
    ) in html


def test_readme_is_rendered_and_sanitised(logged_in, analyzer):
    html = logged_in.get("/market/main/log-analyzer/").content.decode()
    readme = html.split('<article class="prose markdown">', 1)[1].split("</article>", 1)[0]

    assert "<table>" in readme and "<code>replicas</code>" in readme
    for forbidden in (
        "<script",
        "onerror",
        "onclick",
        "javascript:",
        "data:text/html",
        "<iframe",
        "<form",
        "<input",
        "<svg",
        "style=",
        'id="main"',
    ):
        assert forbidden not in readme.lower(), forbidden
    assert "click me" in readme  # the text stays, the link target does not
    # Heading ids are prefixed so a README cannot clobber the page's own ids.
    assert 'id="md-main"' in readme
    assert 'href="https://example.org/docs" rel="noopener noreferrer nofollow"' in readme
    # A relative link to a docs page of the package goes to that docs page.
    assert 'href="/market/main/log-analyzer/docs/routing#md-tls"' in readme


def test_versions_tab_lists_versions_newest_first_with_dates_publishers_digests(
    logged_in, analyzer
):
    html = logged_in.get("/market/main/log-analyzer/").content.decode()

    versions = re.findall(r'<tr data-version="([^"]+)"', html)
    assert versions == ["1.4.2", "1.3.0"]
    latest = analyzer.versions.get(version="1.4.2")
    assert latest.digest.removeprefix("sha256:")[:12] in html
    assert "ci-bot" in html
    assert "4.0\xa0KB" in html


def test_dependencies_link_to_the_same_market_or_to_a_catalogue_search(logged_in, market, analyzer):
    make_app(market, "redis-ops", versions=("1.1.0", "1.3.0", "2.1.0"), title="Redis Ops")
    make_app(make_market("elsewhere"), "log-collector")

    html = logged_in.get("/market/main/log-analyzer/").content.decode()

    redis = html.split('<tr data-dependency="redis-ops">', 1)[1].split("</tr>", 1)[0]
    assert '<a href="/market/main/redis-ops/">Redis Ops</a>' in redis
    assert "<code>&gt;=1.2.0 &lt;2.0.0</code>" in redis
    # What an install would take: the newest version in the range, not the latest.
    assert '?version=1.3.0#app-versions">1.3.0</a>' in redis
    assert "newest in range; latest 2.1.0" in redis
    # log-collector is not in this market: the links search the whole catalogue.
    collector = html.split('<tr data-dependency="log-collector">', 1)[1].split("</tr>", 1)[0]
    assert '<a href="/market/?q=log-collector">log-collector</a>' in collector
    assert "<code>^1.0.0</code>" in collector
    assert "not carried" in collector


def test_docs_tab_and_docs_page_rendered_and_sanitised(logged_in, analyzer):
    html = logged_in.get("/market/main/log-analyzer/").content.decode()
    assert 'href="/market/main/log-analyzer/docs/routing"' in html
    assert 'href="/market/main/log-analyzer/docs/operations"' in html

    response = logged_in.get("/market/main/log-analyzer/docs/routing")
    page = response.content.decode()
    assert response.status_code == 200
    # Headings sit below the page's own h1.
    assert '<h2 id="md-routing">Routing</h2>' in page
    assert page.count("<h1") == 1
    assert "alert('doc')" not in page
    # Relative links between docs pages resolve against the page's folder.
    assert 'href="/market/main/log-analyzer/docs/operations"' in page
    assert 'aria-current="page">routing.md</a>' in page


def test_unknown_docs_page_app_market_or_version_answer_404(logged_in, analyzer):
    assert logged_in.get("/market/main/log-analyzer/docs/nope").status_code == 404
    assert logged_in.get("/market/main/log-analyzer/docs/../../etc/passwd").status_code == 404
    assert logged_in.get("/market/main/nope/").status_code == 404
    assert logged_in.get("/market/nope/log-analyzer/").status_code == 404
    assert logged_in.get("/market/main/log-analyzer/?version=9.9.9").status_code == 404


def test_markets_tab_lists_every_market_that_carries_the_app(logged_in, analyzer):
    make_app(make_market("mirror"), "log-analyzer", versions=("1.3.0",))
    make_app(make_market("unrelated"), "redis-ops")

    html = logged_in.get("/market/main/log-analyzer/").content.decode()

    assert re.findall(r'<tr data-offer="([^"]+)"', html) == ["main", "mirror"]
    assert 'href="/market/mirror/log-analyzer/"' in html


def test_version_parameter_shows_that_versions_manifest(logged_in, analyzer):
    old = analyzer.versions.get(version="1.3.0")
    old.manifest = {**old.manifest, "license": "MIT", "dependencies": []}
    old.save()

    html = logged_in.get("/market/main/log-analyzer/?version=1.3.0").content.decode()

    assert "You are looking at version <strong>1.3.0</strong>" in html
    assert "Version 1.3.0" in html
    assert "<dt>License</dt><dd>MIT</dd>" in html
    assert "Version 1.3.0 needs no other app." in html
    assert '<tr data-version="1.3.0" class="is-selected"' in html


def test_homepage_that_is_not_a_web_link_is_not_a_link(logged_in, analyzer):
    latest = analyzer.versions.get(version="1.4.2")
    latest.manifest = {**latest.manifest, "homepage": "javascript:alert(1)"}
    latest.save()

    html = logged_in.get("/market/main/log-analyzer/").content.decode()

    assert 'href="javascript:' not in html
    assert "<dd>javascript:alert(1)</dd>" in html


def test_app_page_costs_the_same_queries_with_many_versions_docs_and_offers(logged_in):
    def page_queries(name: str, count: int) -> int:
        markets = [make_market(f"{name}-{n}") for n in range(count)]
        versions = tuple(f"1.{n}.0" for n in range(count))
        deps = [{"name": f"dep-{n}", "version": "^1.0.0"} for n in range(count)]
        docs = {f"docs/page-{n}.md": f"# Page {n}\n" for n in range(count)}
        for market in markets:
            make_app(market, name, versions=versions, dependencies=deps, docs=docs)
            for n in range(count):
                make_app(market, f"dep-{n}")
        with CaptureQueriesContext(connection) as queries:
            response = logged_in.get(f"/market/{markets[0].name}/{name}/")
        assert response.status_code == 200
        return len(queries)

    assert page_queries("small", 2) == page_queries("large", 12)


# --- icons ------------------------------------------------------------------------

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><rect/></svg>'


def test_icon_is_served_with_its_type_and_headers_that_keep_svg_inert(logged_in, market):
    make_app(market, "log-analyzer", icon=("image/svg+xml", SVG))

    response = logged_in.get("/market/main/log-analyzer/icon")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert response.content == SVG
    assert response["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response["ETag"].startswith('"') and response["ETag"].endswith('"')


def test_icon_answers_304_to_a_matching_etag_and_200_after_a_change(logged_in, market):
    app = make_app(market, "log-analyzer", icon=("image/png", b"\x89PNG\r\n\x1a\nfake"))
    etag = logged_in.get("/market/main/log-analyzer/icon")["ETag"]

    cached = logged_in.get("/market/main/log-analyzer/icon", HTTP_IF_NONE_MATCH=etag)
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached["ETag"] == etag

    App.objects.filter(pk=app.pk).update(icon=b"\x89PNG\r\n\x1a\nnew")
    changed = logged_in.get("/market/main/log-analyzer/icon", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["Content-Type"] == "image/png"
    assert changed["ETag"] != etag


def test_icon_missing_or_of_an_unexpected_type_answers_404(logged_in, market):
    make_app(market, "no-icon")
    make_app(market, "html-icon", icon=("text/html", b"<script>alert(1)</script>"))
    assert logged_in.get("/market/main/no-icon/icon").status_code == 404
    assert logged_in.get("/market/main/html-icon/icon").status_code == 404
    assert logged_in.get("/market/main/nope/icon").status_code == 404


def test_app_pages_and_icons_need_a_login(client, analyzer):
    for url in (
        "/market/main/log-analyzer/",
        "/market/main/log-analyzer/docs/routing",
        "/market/main/log-analyzer/icon",
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_a_dependency_with_no_version_in_its_range_says_so(logged_in, market, analyzer):
    make_app(market, "redis-ops", versions=("2.0.0", "2.1.0"), title="Redis Ops")

    html = logged_in.get("/market/main/log-analyzer/").content.decode()

    redis = html.split('<tr data-dependency="redis-ops">', 1)[1].split("</tr>", 1)[0]
    assert "no version in range" in redis and "latest 2.1.0" in redis


def test_readme_names_of_docs_pages_become_links_and_other_package_files_do_not(logged_in, market):
    readme = (
        "Routing: `docs/routing.md`, [the same](docs/routing), [tls](./docs/routing.md#tls).\n"
        "Not a page: `docs/missing.md`, [values](values.yaml), [x](JaVaScRiPt:alert(1)).\n"
    )
    make_app(market, "edge", readme=readme, docs={"docs/routing.md": "# Routing\n"})

    html = logged_in.get("/market/main/edge/").content.decode()
    body = html.split('<article class="prose markdown">', 1)[1].split("</article>", 1)[0]

    assert (
        '<a href="/market/main/edge/docs/routing" rel="noopener noreferrer nofollow">'
        "<code>docs/routing.md</code></a>" in body
    )
    assert body.count('href="/market/main/edge/docs/routing"') == 2
    assert 'href="/market/main/edge/docs/routing#md-tls"' in body
    assert "<code>docs/missing.md</code>" in body and "docs/missing" not in body.replace(
        "<code>docs/missing.md</code>", ""
    )
    assert "values.yaml" not in body.replace(">values<", "") and "javascript" not in body.lower()
