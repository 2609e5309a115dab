"""The instance pages in the browser (templates, not JavaScript): install through the
form, the instance page, upgrade with a preview, diffs, roll back, uninstall, and who
may do what. Forms are submitted the way a browser would: the rendered form is parsed
and its inputs become the POST data (``browser_post``)."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from deployments.models import Instance, InstanceStatus, Namespace, Operation, Revision
from deployments.services.instances import instance_install
from market.models import Market
from portal.actors import Actor
from portal.models import AuditEvent, Role
from tests.deployments.conftest import commit_subjects
from tests.deployments.test_redis_down import private_redis  # noqa: F401 - a fixture
from tests.deployments.test_values_form import browser_post
from tests.factories import make_namespace, make_team, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("gitops_repo")]

SECRET = "top-secret-api-key-4242"
INSTALL = "/instances/new/?market=apps&app=web-app&version=1.0.0"
DETAIL = "/instances/pay-prod/web-app/"


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_html(html: str, action: str) -> str:
    """The <form> posting to ``action`` (the first one when several do)."""
    start = html.index(f'action="{action}"')
    start = html.rindex("<form", 0, start)
    return html[start : html.index("</form>", start)]


def page_form(html: str) -> str:
    """The page's main form: the one without an action attribute, or the install form."""
    if 'action="/instances/new/"' in html:
        return form_html(html, "/instances/new/")
    start = html.rindex("<form", 0, html.index('class="form upgrade-form"'))
    return html[start : html.index("</form>", start)]


def text(response: Any) -> str:
    return unescape(response.content.decode())


def install_through_form(client: Client, **changes: Any) -> Any:
    page = client.get(INSTALL)
    assert page.status_code == 200
    data = browser_post(form_html(page.content.decode(), "/instances/new/"), **changes)
    return client.post("/instances/new/", data)


def field_errors(html: str, name: str) -> str:
    """The errors shown in the form field holding the input ``name``."""
    at = html.index(f'name="{name}"')
    start = html.rindex('<div class="form-field', 0, at)
    block = html[start : html.index("</div>", html.index("form-field__errors", start))]
    return unescape(re.sub(r"<[^>]+>", " ", block))


@pytest.fixture
def installed(apps_market: Market, namespace: Namespace, operator: Any, eager_tasks: None) -> Any:
    response = install_through_form(
        client_for(operator), values__replicas="3", values__apiKey=SECRET
    )
    assert response.status_code == 302, text(response)[:2000]
    return Instance.objects.get(namespace=namespace, name="web-app")


def test_install_through_the_form_lands_on_a_deployed_instance(
    apps_market: Market, namespace: Namespace, operator: Any, eager_tasks: None, gitops_repo: Path
) -> None:
    client = client_for(operator)
    page = client.get(INSTALL)
    html = text(page)
    assert '<option value="pay-prod"' in html
    assert re.search(r'<option value="1.2.0"[^>]*>1.2.0</option>\s*<option value="1.1.0"', html)
    assert 'value="web-app"' in html  # the instance name defaults to the app's

    response = install_through_form(client, values__replicas="3", values__apiKey=SECRET)

    assert response.status_code == 302
    assert response["Location"] == DETAIL
    detail = client.get(DETAIL)
    html = text(detail)
    assert detail.status_code == 200
    assert 'data-state="deployed"' in html
    assert "Installing web-app 1.0.0 as pay-prod/web-app, after its dependencies" in html
    assert '<a class="list__primary" href="/instances/pay-prod/redis-lite/">redis-lite</a>' in html
    assert "apiKey: &#x27;********&#x27;" in detail.content.decode() or "apiKey: '********'" in html
    assert "replicas: 3" in html
    assert 'data-resource="Deployment/web-app"' in html
    assert 'data-revision="1"' in html
    assert 'id="operation-steps"' in html and 'hx-trigger="every' not in html  # no polling
    assert "upgrade available: 1.2.0" in html
    assert commit_subjects(gitops_repo)[-1] == "install pay-prod/web-app web-app@1.0.0"
    assert AuditEvent.objects.filter(action="instance.install").count() == 1
    for url in (
        DETAIL,
        DETAIL + "?tab=manifests",
        "/instances/",
        DETAIL + "upgrade/",
        f"{DETAIL}operations/{Operation.objects.get(instance__name='web-app').pk}/steps/",
    ):
        assert SECRET not in client.get(url).content.decode(), url


def test_the_list_shows_instances_filters_and_the_upgrade_badge(installed: Instance) -> None:
    client = client_for(make_user("stan", staff=True))

    html = text(client.get("/instances/"))
    filtered = text(client.get("/instances/?app=redis-lite"))
    failed = text(client.get("/instances/?status=failed"))

    assert 'data-instance="pay-prod/web-app"' in html
    assert 'data-instance="pay-prod/redis-lite"' in html
    assert "upgrade available: 1.2.0" in html
    assert '<td class="data-table__td">payments</td>' in html
    assert 'data-instance="pay-prod/web-app"' not in filtered
    assert 'data-instance="pay-prod/redis-lite"' in filtered
    assert "No instance matches these filters." in failed
    assert 'data-namespace="pay-prod"' in html


def test_an_empty_list_says_how_to_install(db: None) -> None:
    html = text(client_for(make_user("newbie")).get("/instances/"))

    assert "Nothing installed yet." in html and 'href="/market/"' in html
    assert "New namespace" not in html  # not an operator anywhere


def test_an_operator_creates_a_namespace_from_the_list(operator: Any, namespace: Namespace) -> None:
    client = client_for(operator)
    other = make_team("elsewhere")

    created = client.post("/instances/namespaces/new/", {"team": "payments", "name": "pay-stage"})
    refused = client.post("/instances/namespaces/new/", {"team": other.name, "name": "sneaky"})
    taken = client.post("/instances/namespaces/new/", {"team": "payments", "name": "pay-prod"})

    assert created.status_code == 302
    assert Namespace.objects.get(name="pay-stage").team.name == "payments"
    assert AuditEvent.objects.filter(action="namespace.create").count() == 1
    assert refused.status_code == 400 and not Namespace.objects.filter(name="sneaky").exists()
    assert taken.status_code == 400 and "already exists" in text(taken)


def test_invalid_values_are_shown_beside_their_fields_and_nothing_is_created(
    apps_market: Market, namespace: Namespace, operator: Any, eager_tasks: None
) -> None:
    response = install_through_form(
        client_for(operator),
        values__replicas="99",
        values__image__tag="latest",
        values__apiKey=SECRET,
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "Replicas must be at most 10." in field_errors(html, "values.replicas")
    # Never the regular expression: the pattern in words, or "the format this app expects".
    assert "Tag is not in the format this app expects." in field_errors(html, "values.image.tag")
    assert "^[0-9]" not in field_errors(html, "values.image.tag")
    assert SECRET not in html
    assert "type them again" in html
    assert Instance.objects.count() == 0 and Operation.objects.count() == 0


def test_a_bad_instance_name_or_a_taken_one_is_an_error_on_the_form(
    installed: Instance, operator: Any
) -> None:
    client = client_for(operator)

    bad = install_through_form(client, name="Not_A_Name")
    taken = install_through_form(client)

    assert bad.status_code == 400 and "lowercase letters" in text(bad)
    # Both in the same round as the values: a refused submission, nothing written.
    assert taken.status_code == 400 and "already exists" in field_errors(
        taken.content.decode(), "name"
    )
    assert Instance.objects.count() == 2


def test_hostile_input_is_refused_and_shown_escaped(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    client = client_for(operator)
    hostile = "<script>alert(1)</script>"

    named = install_through_form(client, name=hostile)
    no_app = client.get("/instances/new/?market=apps&app=%3Cx%3E")
    no_market = client.get("/instances/new/?market=nowhere&app=web-app")
    odd_version = client.get("/instances/new/?market=apps&app=web-app&version=9.9.9")
    bad_namespace = install_through_form(client, namespace="../../etc")

    assert named.status_code == 400
    assert hostile not in named.content.decode() and "&lt;script&gt;" in named.content.decode()
    assert no_app.status_code == no_market.status_code == 404
    assert odd_version.status_code == 200  # the latest is offered instead
    assert re.search(r'<option value="1.2.0" selected>', odd_version.content.decode())
    assert bad_namespace.status_code == 404
    assert Instance.objects.count() == 0


@pytest.mark.services
def test_with_the_queue_down_the_install_form_says_so_and_writes_nothing(
    request: pytest.FixtureRequest, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    redis_server = request.getfixturevalue("private_redis")
    client = client_for(operator)
    page = client.get(INSTALL).content.decode()
    redis_server.kill()
    redis_server.wait()

    response = client.post("/instances/new/", browser_post(form_html(page, "/instances/new/")))

    assert response.status_code == 503
    assert "task queue is unreachable" in text(response)
    assert Instance.objects.count() == 0 and Operation.objects.count() == 0


def test_load_version_shows_that_versions_editor_and_installs_nothing(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    client = client_for(operator)
    page = client.get(INSTALL).content.decode()

    loaded = client.post(
        "/instances/new/",
        browser_post(form_html(page, "/instances/new/"), version="1.1.0", load="1"),
    )
    switched = client.post(
        "/instances/new/", browser_post(form_html(page, "/instances/new/"), version="1.1.0")
    )

    assert loaded.status_code == 200
    assert 'name="loaded_version" value="1.1.0"' in loaded.content.decode()
    assert "Install web-app 1.1.0" in text(loaded)
    assert switched.status_code == 200 and "now shows version 1.1.0" in text(switched)
    assert Instance.objects.count() == 0


def test_without_a_namespace_the_form_offers_to_create_one(apps_market: Market, db: None) -> None:
    lone = make_user("lone")
    make_team("solo", members={lone: Role.OPERATOR})
    client = client_for(lone)

    html = text(client.get(INSTALL))
    created = client.post(
        "/instances/namespaces/new/", {"team": "solo", "name": "solo-ns", "next": INSTALL}
    )
    evil = client.post(
        "/instances/namespaces/new/",
        {"team": "solo", "name": "solo-two", "next": "https://evil.example/"},
    )

    assert "First, a namespace" in html
    assert re.search(r"<button[^>]*disabled[^>]*>Install web-app", html)
    assert created.status_code == 302 and created["Location"] == INSTALL
    assert '<option value="solo-ns"' in text(client.get(INSTALL))
    assert evil["Location"] == "/instances/#namespaces"


def test_a_viewer_sees_no_actions_and_every_change_is_refused(
    installed: Instance, namespace: Namespace
) -> None:
    viewer = make_user("vera")
    namespace.team.memberships.create(user=viewer, role=Role.VIEWER)
    client = client_for(viewer)
    operations = Operation.objects.count()

    html = text(client.get(DETAIL))
    install_page = text(client.get(INSTALL))
    install = client.post(
        "/instances/new/",
        {
            "market": "apps",
            "app": "web-app",
            "version": "1.0.0",
            "loaded_version": "1.0.0",
            "namespace": "pay-prod",
            "name": "shop2",
            "values_mode": "form",
            "values.replicas": "2",
        },
    )
    rollback = client.post(DETAIL + "rollback/", {"revision": "1"})
    uninstall = client.post(DETAIL + "uninstall/", {"force": "1"})
    upgrade = client.get(DETAIL + "upgrade/")

    assert 'data-state="deployed"' in html
    for action in ("Upgrade", "Uninstall", "Roll back", "Install again"):
        assert f">{action}" not in html, action
    assert "not an operator in any team" in install_page
    assert (install.status_code, rollback.status_code, uninstall.status_code) == (403, 403, 403)
    assert upgrade.status_code == 403
    assert not Instance.objects.filter(name="shop2").exists()
    assert Operation.objects.count() == operations
    assert Instance.objects.get(pk=installed.pk).status == InstanceStatus.DEPLOYED


def test_another_teams_instance_is_not_found_anywhere(installed: Instance) -> None:
    outsider = make_user("otto")
    make_namespace(make_team("other", members={outsider: Role.ADMIN}), "other-ns")
    client = client_for(outsider)
    operation = Operation.objects.filter(instance=installed).first()
    assert operation is not None

    for url in (
        DETAIL,
        DETAIL + "upgrade/",
        DETAIL + "diff/?from=1&to=1",
        f"{DETAIL}operations/{operation.pk}/steps/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(DETAIL + "rollback/", {"revision": "1"}).status_code == 404
    assert client.post(DETAIL + "uninstall/").status_code == 404
    assert 'data-instance="pay-prod/web-app"' not in text(client.get("/instances/"))
    # The install form with another team's namespace: not found, nothing created.
    posted = client.post(
        "/instances/new/",
        {
            "market": "apps",
            "app": "web-app",
            "version": "1.0.0",
            "loaded_version": "1.0.0",
            "namespace": "pay-prod",
            "name": "intruder",
            "values_mode": "form",
            "values.replicas": "2",
        },
    )
    assert posted.status_code == 404
    assert not Instance.objects.filter(name="intruder").exists()


def upgrade_page(client: Client, **changes: Any) -> Any:
    page = client.get(DETAIL + "upgrade/")
    assert page.status_code == 200
    return browser_post(page_form(page.content.decode()), **changes)


def test_preview_shows_the_diffs_and_changes_nothing_then_upgrade_makes_revision_2(
    installed: Instance, operator: Any, gitops_repo: Path
) -> None:
    client = client_for(operator)
    commits = commit_subjects(gitops_repo)
    page = text(client.get(DETAIL + "upgrade/"))
    assert re.search(r'<option value="1.2.0" selected>1.2.0</option>', page)  # the latest
    assert "replicas" in page and SECRET not in page

    data = upgrade_page(client, version="1.1.0", loaded_version="1.1.0", values__replicas="5")
    data["loaded_version"] = "1.1.0"
    loaded = client.post(DETAIL + "upgrade/", {**data.dict(), "load": "1"})
    data = browser_post(page_form(loaded.content.decode()), values__replicas="5")
    preview = client.post(DETAIL + "upgrade/", {**data.dict(), "preview": "1"})

    html = text(preview)
    assert preview.status_code == 200
    assert "Preview: 1.0.0 → 1.1.0" in html
    assert "-replicas: 3" in html and "+replicas: 5" in html
    assert "+++ upgrade/configmap.yaml" in html
    assert SECRET not in preview.content.decode()
    assert commit_subjects(gitops_repo) == commits
    assert not Operation.objects.filter(kind="upgrade").exists()

    upgraded = client.post(
        DETAIL + "upgrade/",
        {**browser_post(page_form(preview.content.decode())).dict(), "upgrade": "1"},
    )

    assert upgraded.status_code == 302 and upgraded["Location"] == DETAIL
    instance = Instance.objects.get(pk=installed.pk)
    assert (instance.version, instance.current_revision.number) == ("1.1.0", 2)  # type: ignore[union-attr]
    assert instance.current_revision.values_masked["apiKey"] == "********"  # type: ignore[union-attr]
    assert instance.current_revision.values_masked["replicas"] == 5  # type: ignore[union-attr]
    html = text(client.get(DETAIL))
    assert 'data-revision="2"' in html and "Diff with r1" in html
    diff = client.get(DETAIL + "diff/?from=1&to=2")
    assert diff.status_code == 200
    assert "+replicas: 5" in text(diff) and "+++ r2/configmap.yaml" in text(diff)
    assert SECRET not in diff.content.decode()
    assert client.get(DETAIL + "diff/?from=1&to=9").status_code == 404
    assert client.get(DETAIL + "diff/?from=x&to=").status_code == 200  # defaults: latest pair


def test_a_secret_typed_before_a_preview_is_not_echoed_and_the_page_says_so(
    installed: Instance, operator: Any
) -> None:
    client = client_for(operator)
    data = upgrade_page(client, values__apiKey="new-secret-typed-9876")

    response = client.post(DETAIL + "upgrade/", {**data.dict(), "preview": "1"})

    html = response.content.decode()
    assert response.status_code == 200 and "Preview: 1.0.0" in text(response)
    assert "new-secret-typed-9876" not in html and SECRET not in html
    assert "type them again before you submit" in text(response)


def test_invalid_upgrade_values_are_shown_beside_fields(installed: Instance, operator: Any) -> None:
    client = client_for(operator)
    data = upgrade_page(client, values__replicas="0")

    response = client.post(DETAIL + "upgrade/", {**data.dict(), "preview": "1"})

    assert response.status_code == 400
    assert "Replicas must be at least 1." in field_errors(
        response.content.decode(), "values.replicas"
    )
    assert not Operation.objects.filter(kind="upgrade").exists()


def test_a_failed_upgrade_shows_rolled_back_and_the_reason(
    installed: Instance, operator: Any
) -> None:
    client = client_for(operator)
    data = upgrade_page(client)  # 1.2.0, the latest, which verify refuses

    response = client.post(DETAIL + "upgrade/", {**data.dict(), "upgrade": "1"})

    assert response.status_code == 302
    html = text(client.get(DETAIL))
    assert 'data-state="rolled_back"' in html
    assert 'data-state="deployed"' in html  # the instance keeps revision 1
    assert "upgrade failed at verify" in html
    instance = Instance.objects.get(pk=installed.pk)
    assert (instance.version, instance.current_revision.number) == ("1.0.0", 1)  # type: ignore[union-attr]


def test_rollback_and_uninstall_through_the_post_endpoints(
    installed: Instance, operator: Any, gitops_repo: Path
) -> None:
    client = client_for(operator)
    data = upgrade_page(client, version="1.1.0", loaded_version="1.1.0")
    data["loaded_version"] = "1.1.0"
    client.post(DETAIL + "upgrade/", {**data.dict(), "load": "1"})
    assert client.post(DETAIL + "upgrade/", {**data.dict(), "upgrade": "1"}).status_code == 302
    assert Instance.objects.get(pk=installed.pk).version == "1.1.0"
    html = text(client.get(DETAIL))
    assert "Roll back to this" in html and 'name="revision" value="1"' in html

    rolled = client.post(DETAIL + "rollback/", {"revision": "1"})
    bad = client.post(DETAIL + "rollback/", {"revision": "nope"})

    assert rolled.status_code == 302
    instance = Instance.objects.get(pk=installed.pk)
    assert (instance.version, instance.current_revision.number) == ("1.0.0", 3)  # type: ignore[union-attr]
    assert bad.status_code == 302
    assert "Choose the revision" in text(client.get(DETAIL))

    needed = client.post("/instances/pay-prod/redis-lite/uninstall/")
    assert "would break pay-prod/web-app" in text(client.get("/instances/pay-prod/redis-lite/"))
    assert Instance.objects.get(name="redis-lite").status == InstanceStatus.DEPLOYED
    assert needed.status_code == 302

    page = text(client.get("/instances/pay-prod/redis-lite/"))
    assert (
        'name="force"' in page
        and "Still needed by" in page
        and "pay-prod/web-app</a> (web-app needs" in page
    )
    gone = client.post(DETAIL + "uninstall/")
    forced = client.post("/instances/pay-prod/redis-lite/uninstall/", {"force": "1"})

    assert gone.status_code == forced.status_code == 302
    assert Instance.objects.get(pk=installed.pk).status == InstanceStatus.UNINSTALLED
    assert Instance.objects.get(name="redis-lite").status == InstanceStatus.UNINSTALLED
    assert commit_subjects(gitops_repo)[-1] == "uninstall pay-prod/redis-lite redis-lite@1.0.0"
    html = text(client.get(DETAIL))
    assert ">Install again</a>" in html and ">Upgrade</a>" not in html
    assert "name=web-app" in html and "namespace=pay-prod" in html


@pytest.mark.django_db  # not committed: the operation is never sent to a queue
def test_the_steps_partial_polls_while_queued_and_asks_for_a_reload_when_done(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    # No eager tasks: the operation stays queued, as it does until a worker takes it.
    requested = instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        name="shop",
        market=apps_market,
        app="redis-lite",
        version="1.0.0",
    )
    client = client_for(operator)
    url = f"/instances/pay-prod/shop/operations/{requested.operation.pk}/steps/"

    page = client.get("/instances/pay-prod/shop/").content.decode()
    queued = client.get(url, HTTP_HX_REQUEST="true")

    assert f'hx-get="{url}"' in page and 'hx-trigger="every 2s"' in page
    assert queued.status_code == 200 and "HX-Refresh" not in queued
    fragment = queued.content.decode()
    assert fragment.strip().startswith('<section class="card operation-card" id="operation-live"')
    assert fragment.count('class="step-timeline__step') == 7
    assert 'hx-get="' in fragment and 'hx-select-oob="#instance-status"' in fragment
    # The card's badge and the instance's (swapped out of band) say what waits.
    assert re.search(r'id="operation-title">Install <span[^>]*data-state="queued"', fragment)
    assert re.search(r'id="instance-status"[^>]*>\s*<span[^>]*>.*Install queued</span>', fragment)
    assert "0 of 7 steps" in fragment and "queued for" in fragment

    Operation.objects.filter(pk=requested.operation.pk).update(state="failed")
    requested.operation.steps.filter(name="fetch").update(state="failed", message="boom: no such")
    done = client.get(url, HTTP_HX_REQUEST="true")

    assert done["HX-Refresh"] == "true"
    assert "hx-get" not in done.content.decode()
    assert "boom: no such" in done.content.decode()
    assert client.get(url.replace("/shop/", "/other/")).status_code == 404
    assert client.get("/instances/pay-prod/shop/operations/not-a-uuid/steps/").status_code == 404


def test_admin_console_shows_instances_revisions_and_operations_read_only(
    installed: Instance,
) -> None:
    client = client_for(make_user("root", staff=True))
    revision = Revision.objects.get(instance=installed, number=1)
    operation = Operation.objects.filter(instance=installed).first()
    assert operation is not None

    pages = {
        "instance": f"/admin/deployments/instance/{installed.pk}/change/",
        "revision": f"/admin/deployments/revision/{revision.pk}/change/",
        "operation": f"/admin/deployments/operation/{operation.pk}/change/",
        "instances": "/admin/deployments/instance/",
        "revisions": "/admin/deployments/revision/",
        "operations": "/admin/deployments/operation/",
        "steps": "/admin/deployments/operationstep/",
    }
    for name, url in pages.items():
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, name
        assert SECRET not in html, name
        assert "_encrypted" not in html and revision.values_encrypted[:20] not in html, name
        assert 'type="submit" value="Save"' not in html, name
    assert "resolve" in client.get(pages["operation"]).content.decode()  # the steps inline
    assert client.get("/admin/deployments/instance/add/").status_code == 403
