"""The UI component library: its template tags and its documentation pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core.paginator import Paginator
from django.template import Context, Template, TemplateSyntaxError
from django.test import RequestFactory
from django.utils.html import escape

from portal import components as component_docs
from portal.components import ComponentNotFound, load_component
from portal.templatetags.ui import parse_sort, parse_unified_diff

EXPECTED_COMPONENTS = {
    "page-header",
    "card",
    "data-table",
    "status-badge",
    "form-field",
    "confirm-dialog",
    "code-block",
    "diff-block",
    "step-timeline",
    "tabs",
    "search-box",
}

# A fragment each doc page's live examples must produce: proof that the example was
# rendered by the component, not just shown as source.
LIVE_FRAGMENTS = {
    "page-header": [
        '<h1 class="page-header__title">Log Analyzer</h1>',
        '<span aria-current="page">Log Analyzer</span>',
        '<a href="/market/">Market</a>',
    ],
    "card": ['<h2 class="card__title"><a href="/market/local/log-analyzer/">Log Analyzer</a></h2>'],
    "data-table": [
        'data-sort-mode="client"',
        "Page 2 of 4 &middot; 15 items",
        "No instances in this namespace yet.",
        '<a href="/market/local/redis-ops/">Redis Ops</a>',
    ],
    "status-badge": [
        'class="status-badge status-badge--success" data-state="succeeded"',
        'class="status-badge status-badge--danger" data-state="failed"',
        'class="status-badge status-badge--warning" data-state="rolled_back"',
        'class="status-badge status-badge--info status-badge--live" data-state="running"',
        "Failed at step 4",
    ],
    "form-field": [
        'aria-invalid="true"',
        '<ul class="form-field__errors" id="id_name_error"><li>Use lowercase letters',
        'placeholder="log-analyzer-prod"',
    ],
    "confirm-dialog": [
        '<dialog class="dialog"',
        'name="csrfmiddlewaretoken"',
        'data-confirm-expect="log-analyzer"',
        '<input type="hidden" name="revision" value="3">',
    ],
    "code-block": ['data-copy-target="code-', "channel: &quot;#ops-alerts&quot;"],
    "diff-block": [
        'class="diff-line diff-line--add"',
        'class="diff-line diff-line--del"',
        '<span class="diff-block__added">+3</span>',
        '<span class="diff-block__removed">&minus;2</span>',
        "No changes.",
    ],
    "step-timeline": [
        'class="step-timeline__step step-timeline__step--danger" data-state="failed"',
        "3m 00s",
        'data-state="queued"',
    ],
    "tabs": ['role="tablist" aria-label="Instance views"', 'id="instance-values"'],
    "search-box": [
        'data-suggest-url="/docs/components/suggest/"',
        'role="combobox"',
    ],
}


def render(source: str, **context) -> str:
    return Template(source).render(Context(context))


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


# --- documentation pages ---------------------------------------------------------


def test_every_component_is_documented():
    names = {doc.name for doc in component_docs.list_components()}
    assert names >= EXPECTED_COMPONENTS
    for name in names:
        doc = load_component(name)
        assert doc.title and doc.summary, name
        assert doc.examples, f"{name} has no live example"
        assert "Parameters" in doc.body_html, name


@pytest.mark.django_db
def test_index_lists_every_component_with_its_summary(logged_in):
    response = logged_in.get("/docs/components/")
    assert response.status_code == 200
    html = response.content.decode()
    for doc in component_docs.list_components():
        assert f'href="/docs/components/{doc.name}/"' in html
        assert escape(doc.summary) in html


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(LIVE_FRAGMENTS))
def test_component_page_renders_its_live_examples(logged_in, name):
    response = logged_in.get(f"/docs/components/{name}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="example__result"') == len(load_component(name).examples)
    for fragment in LIVE_FRAGMENTS[name]:
        assert fragment in html, fragment


@pytest.mark.django_db
def test_component_page_shows_the_example_source_escaped(logged_in):
    html = logged_in.get("/docs/components/status-badge/").content.decode()
    assert "{% status_badge state %}" in html
    assert "&lt;p&gt;{% for state in states %}" in html


@pytest.mark.django_db
def test_table_example_sorts_by_query_string(logged_in):
    html = logged_in.get("/docs/components/data-table/?sort=-installs").content.decode()
    first_table = html.split('class="data-table"')[1]
    order = re.findall(r'<a href="/market/local/([a-z-]+)/">', first_table)
    assert order == ["node-exporter", "alert-router", "log-analyzer", "runbook-kit", "redis-ops"]
    assert 'aria-sort="descending"' in first_table


@pytest.mark.django_db
def test_unknown_component_is_404(logged_in):
    assert logged_in.get("/docs/components/no-such-thing/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/docs/components/../../portal/settings/",
        "/docs/components/..%2F..%2Fportal%2Fsettings/",
        "/docs/components/%2E%2E/",
        "/docs/components/Card/",
        "/docs/components/card.md/",
    ],
)
def test_path_traversal_is_404(logged_in, path):
    assert logged_in.get(path).status_code == 404


@pytest.mark.parametrize("name", ["../README", "..", "card/../tabs", "Card", "", "card.md"])
def test_loader_refuses_names_that_are_not_component_files(name):
    with pytest.raises(ComponentNotFound):
        load_component(name)


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/docs/components/", "/docs/components/card/"])
def test_docs_require_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "next=" in response["Location"]


def test_markdown_is_sanitised_and_examples_kept_apart(tmp_path, monkeypatch):
    (tmp_path / "evil.md").write_text(
        "---\ntitle: Evil\nsummary: tries things\n---\n\n"
        "## Usage\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n"
        '<img src=x onerror="alert(1)">\n\n'
        "```example A badge\n{% status_badge 'failed' %}\n```\n\nAfter.\n"
    )
    (tmp_path / "not a component.md").write_text("ignored")
    monkeypatch.setattr(component_docs, "docs_dir", lambda: tmp_path)
    assert component_docs.component_names() == ["evil"]
    doc = load_component("evil")
    assert "<script" not in doc.body_html
    assert "javascript:" not in doc.body_html
    assert "onerror" not in doc.body_html
    assert doc.examples[0].caption == "A badge"
    assert doc.examples[0].source == "{% status_badge 'failed' %}\n"
    # Search indexes the body with the example as escaped source.
    assert "{% status_badge &#x27;failed&#x27; %}" in doc.body_html
    kinds = [type(section).__name__ for section in doc.sections]
    assert kinds == ["str", "Example", "str"]
    assert doc.summary == "tries things"
    assert doc.markdown.startswith("---\ntitle: Evil")


@pytest.mark.django_db
def test_examples_get_sample_data_only(tmp_path, monkeypatch, logged_in, user):
    (tmp_path / "leak.md").write_text(
        "---\ntitle: Leak\nsummary: s\n---\n\n"
        "```example\n[{{ user.username }}][{{ perms }}][{{ apps.0.name }}]\n```\n"
    )
    monkeypatch.setattr(component_docs, "docs_dir", lambda: tmp_path)
    html = logged_in.get("/docs/components/leak/").content.decode()
    assert "[][][log-analyzer]" in html


@pytest.mark.django_db
def test_suggest_endpoint_matches_component_docs(logged_in):
    response = logged_in.get("/docs/components/suggest/?q=dia")
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["title"] == "Confirm dialog"
    assert results[0]["url"] == "/docs/components/confirm-dialog/"
    assert logged_in.get("/docs/components/suggest/?q=").json() == {"results": []}


# --- the template tags -------------------------------------------------------------


def test_status_badge_maps_states_to_tones():
    tones = {
        "queued": "neutral",
        "running": "info",
        "succeeded": "success",
        "failed": "danger",
        "rolled_back": "warning",
        "installing": "info",
        "deployed": "success",
        "upgrading": "info",
        "uninstalling": "info",
        "uninstalled": "neutral",
        "active": "success",
        "revoked": "danger",
        "expired": "neutral",
        "something-new": "neutral",
    }
    for state, tone in tones.items():
        assert f"status-badge--{tone}" in render("{% status_badge s %}", s=state), state
    assert ">Rolled back</span>" in render("{% status_badge 'rolled_back' %}")


def test_status_badge_escapes_labels():
    html = render("{% status_badge s label=l %}", s="<b>", l="<i>x</i>")
    assert "<b>" not in html and "<i>" not in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html


def test_data_table_escapes_cells_and_renders_kinds():
    rows = [{"name": "<script>alert(1)</script>", "state": "failed", "url": "/x/", "n": 3}]
    columns = [
        {"key": "name", "label": "Name", "kind": "link"},
        {"key": "state", "label": "State", "kind": "status"},
        ("n", "Count"),
    ]
    html = render("{% data_table columns rows %}", columns=columns, rows=rows)
    assert "<script>" not in html
    assert '<a href="/x/">&lt;script&gt;alert(1)&lt;/script&gt;</a>' in html
    assert 'data-state="failed"' in html
    assert "data-sort-mode" not in html  # nothing sortable


def test_data_table_sorts_complete_lists_and_keeps_the_query():
    request = RequestFactory().get("/apps/", {"sort": "-size", "q": "log", "page": "3"})
    rows = [{"name": "b", "size": 2}, {"name": "a", "size": None}, {"name": "c", "size": 10}]
    columns = [{"key": "name", "sortable": True}, {"key": "size", "sortable": True}]
    html = render("{% data_table columns rows %}", columns=columns, rows=rows, request=request)
    assert re.findall(r'data-sort-value="([abc])"', html) == ["c", "b", "a"]
    # Clicking the sorted column again flips it; the other params stay, page resets.
    assert 'href="?sort=size&amp;q=log"' in html
    assert 'href="?sort=name&amp;q=log"' in html


def test_data_table_ignores_unknown_sort_keys():
    request = RequestFactory().get("/", {"sort": "password"})
    rows = [{"name": "b"}, {"name": "a"}]
    html = render(
        "{% data_table columns rows %}",
        columns=[{"key": "name", "sortable": True}],
        rows=rows,
        request=request,
    )
    assert re.findall(r'data-sort-value="([ab])"', html) == ["b", "a"]
    assert "aria-sort" not in html


def test_data_table_paginates_from_a_page():
    request = RequestFactory().get("/", {"page": "2", "q": "x"})
    page = Paginator([{"name": str(i)} for i in range(25)], 10).page(2)
    html = render(
        "{% data_table columns page %}", columns=[("name", "Name")], page=page, request=request
    )
    assert "Page 2 of 3 &middot; 25 items" in html
    assert 'href="?page=1&amp;q=x" rel="prev"' in html
    assert 'href="?page=3&amp;q=x" rel="next"' in html
    assert html.count("<tr>") == 11  # header + 10 rows


def test_data_table_shows_the_empty_state():
    html = render(
        "{% data_table columns rows empty='Nothing here.' %}",
        columns=[("a", "A"), ("b", "B")],
        rows=[],
    )
    assert '<td colspan="2"><div class="empty-state">Nothing here.</div></td>' in html


def test_parse_sort_only_allows_known_keys():
    assert parse_sort("-name", ["name"]) == "-name"
    assert parse_sort("name", ["name"]) == "name"
    assert parse_sort("secret", ["name"], "name") == "name"
    assert parse_sort(None, ["name"]) == ""


def test_form_field_wires_help_and_errors():
    from portal.components import ExampleInstallForm

    form = ExampleInstallForm(data={"name": "Bad!", "version": "1.4.2"})
    form.is_valid()
    html = render("{% form_field form.name %}", form=form)
    assert 'class="form-field form-field--invalid"' in html
    assert 'aria-describedby="id_name_helptext id_name_error"' in html
    assert 'aria-invalid="true"' in html
    assert 'class="input"' in html
    assert '<p class="form-field__help" id="id_name_helptext">' in html
    checkbox = render("{% form_field form.dry_run %}", form=form)
    assert "form-field--checkbox" in checkbox and 'class="input"' not in checkbox


def test_form_field_refuses_things_that_are_not_fields():
    with pytest.raises(TemplateSyntaxError):
        render("{% form_field 'name' %}")


def test_confirm_dialog_posts_with_csrf_and_escapes():
    html = render(
        "{% confirm_dialog '/ns/ops/instances/x/uninstall/' 'Uninstall' message=m danger=True %}",
        m="<b>gone</b>",
        csrf_token="tok123",
    )
    assert (
        '<form class="dialog__form" method="post" action="/ns/ops/instances/x/uninstall/">' in html
    )
    assert 'name="csrfmiddlewaretoken" value="tok123"' in html
    assert "&lt;b&gt;gone&lt;/b&gt;" in html
    assert "button--danger" in html
    opener = re.search(r'data-confirm-open="([^"]+)"', html)
    assert opener is not None
    assert f'<dialog class="dialog" id="{opener.group(1)}"' in html


def test_code_block_keeps_whitespace_and_escapes():
    html = render("{% code_block code %}", code="a:\n  b: '<x>'\n")
    assert "<code>a:\n  b: &#x27;&lt;x&gt;&#x27;</code>" in html


def test_diff_parser_numbers_lines_from_hunks():
    lines = parse_unified_diff("--- a\n+++ b\n@@ -10,2 +10,3 @@\n ctx\n-old\n+new\n+more\n")
    assert [line["kind"] for line in lines] == [
        "file",
        "file",
        "hunk",
        "context",
        "del",
        "add",
        "add",
    ]
    assert (lines[3]["old"], lines[3]["new"]) == (10, 10)
    assert lines[4]["old"] == 11
    assert (lines[5]["new"], lines[6]["new"]) == (11, 12)


def test_step_timeline_polls_only_while_in_progress():
    started = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    running = [{"name": "render", "state": "running", "started_at": started.isoformat()}]
    done = [
        {
            "name": "render",
            "state": "succeeded",
            "started_at": started,
            "finished_at": datetime(2025, 1, 1, 12, 0, 42, tzinfo=UTC),
            "message": "<ok>",
        }
    ]
    html = render("{% step_timeline steps poll_url='/ops/1/' %}", steps=running)
    assert 'hx-get="/ops/1/" hx-trigger="every 2s" hx-select="#step-timeline"' in html
    html = render("{% step_timeline steps poll_url='/ops/1/' %}", steps=done)
    assert "hx-get" not in html
    assert "42s" in html
    assert "&lt;ok&gt;" in html


def test_step_timeline_polls_while_the_caller_says_the_operation_is_active():
    # A queued operation has no running step yet, and neither has one between steps.
    pending = [{"name": "resolve", "state": "pending"}, {"name": "fetch", "state": "pending"}]
    running = [{"name": "render", "state": "running"}]
    source = "{% step_timeline steps poll_url='/ops/1/' active=active %}"

    assert "hx-get" not in render("{% step_timeline steps poll_url='/ops/1/' %}", steps=pending)
    assert 'hx-get="/ops/1/"' in render(source, steps=pending, active=True)
    assert "hx-get" not in render(source, steps=running, active=False)


def test_tabs_select_the_first_or_the_active_tab():
    source = (
        "{% tabs id='inst' %}{% tab 'Overview' %}one{% endtab %}"
        "{% tab 'Values' count=3 %}two{% endtab %}{% endtabs %}"
    )
    html = render(source)
    assert 'id="inst-overview-tab" aria-controls="inst-overview" aria-selected="true"' in html
    assert 'aria-labelledby="inst-values-tab" tabindex="0" hidden>two</div>' in html
    assert '<span class="tabs__count">3</span>' in html
    html = render(source.replace("id='inst'", "id='inst' active='values'"))
    assert 'aria-controls="inst-values" aria-selected="true"' in html


def test_tabs_reject_stray_content():
    with pytest.raises(TemplateSyntaxError):
        Template("{% tabs %}<p>x</p>{% tab 'A' %}a{% endtab %}{% endtabs %}")
    with pytest.raises(TemplateSyntaxError):
        Template("{% tabs %}{% endtabs %}")


def test_page_header_and_card_take_a_body():
    html = render(
        "{% page_header title=t breadcrumbs=c %}<a href='/x/'>Go</a>{% endpage_header %}"
        "{% card title='C' %}{{ body }}{% endcard %}",
        t="<T>",
        c=[("Home", "/"), ("Here", "")],
        body="<b>",
    )
    assert '<h1 class="page-header__title">&lt;T&gt;</h1>' in html
    assert "<div class=\"page-header__actions\"><a href='/x/'>Go</a></div>" in html
    assert '<div class="card__body">&lt;b&gt;</div>' in html
    assert '<a href="/">Home</a>' in html


def test_search_box_shows_the_query_only_on_its_results_page():
    on_results = RequestFactory().get("/search/", {"q": "redis"})
    elsewhere = RequestFactory().get("/market/", {"q": "redis"})
    assert 'value="redis"' in render("{% search_box %}", request=on_results)
    assert 'value=""' in render("{% search_box %}", request=elsewhere)
    plain = render("{% search_box suggest_url='' %}")
    assert "combobox" not in plain and "data-suggest-url" not in plain


def test_form_field_groups_radio_buttons_in_a_fieldset():
    from django import forms

    class RoleForm(forms.Form):
        role = forms.ChoiceField(
            choices=[("viewer", "Viewer"), ("admin", "Admin")], widget=forms.RadioSelect
        )

    html = render("{% form_field form.role %}", form=RoleForm())
    assert '<fieldset class="form-field form-field--group">' in html
    assert '<legend class="form-field__label">Role' in html
    assert 'type="radio"' in html


def test_step_timeline_shows_a_step_log_open_while_it_runs_or_failed():
    steps = [
        {"name": "fetch", "state": "succeeded", "log": "12:00:01 done"},
        {"name": "apply", "state": "running", "log": "12:00:02 attempt 1: <started>"},
        {"name": "verify", "state": "failed", "log": "12:00:03 failed: no kind"},
        {"name": "record", "state": "pending"},
    ]
    html = render("{% step_timeline steps %}", steps=steps)

    assert html.count('class="step-timeline__log"') == 3
    assert html.count('class="step-timeline__log" open') == 2
    assert "attempt 1: &lt;started&gt;" in html
