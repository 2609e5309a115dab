"""The upgrade page's words around the form: the target version's release notes, the
warning on a new major version with its upgrade doc, the preview's list of files at
the top, and the error summary of a refused submission. Rendered by Django (no
JavaScript); tests/browser/test_upgrade_page.py drives the same page in Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deployments.models import Instance, Namespace, Operation
from market.models import App, Market
from market.services.details import app_details_refresh
from market.services.sync import market_sync
from tests.deployments.apps import publish, web
from tests.deployments.test_web import (
    DETAIL,
    SECRET,
    client_for,
    install_through_form,
    text,
    upgrade_page,
)
from tests.factories import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("gitops_repo")]

UPGRADE = DETAIL + "upgrade/"
LONG_VALUE = "x" * 400

CHANGELOG = """\
# Changelog

## [2.0.0] - 2024-06-01

### Breaking

- The API key Secret is gone: set `apiKey` through your secret store.
- <script>alert("changelog")</script> A <b onclick="alert(1)">bold</b> claim.

## 1.2.0

- Verify refuses documents without a kind.

## 1.1.0

- A ConfigMap with the replica count.

## 1.0.0

- First release: nobody upgrading needs to read this.
"""

UPGRADING = """\
# Upgrading to 2.0

2.0 drops the API key Secret. Move `apiKey` into your secret store first,
then upgrade. Read `docs/operations.md` for the rest.
"""

CONFIGMAP = (
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ instance.name }}\n"
    f'data:\n  banner: "{LONG_VALUE}"\n'
)


def web_2(**extra: str) -> dict[str, str]:
    """web-app 2.0.0: the Secret removed, a ConfigMap with a very long line added."""
    files = web("2.0.0", extra={"templates/configmap.yaml": CONFIGMAP, **extra})
    del files["templates/secret.yaml"]
    return files


@pytest.fixture
def major(apps_market: Market, tmp_path: Path) -> Market:
    """The workflow market with web-app 2.0.0 (a CHANGELOG.md and docs/upgrading.md)."""
    publish(
        apps_market,
        tmp_path,
        "web-app",
        "2.0.0",
        web_2(**{"CHANGELOG.md": CHANGELOG, "docs/upgrading.md": UPGRADING}),
    )
    market_sync(market=apps_market)
    return apps_market


@pytest.fixture
def installed(major: Market, namespace: Namespace, operator: Any, eager_tasks: None) -> Instance:
    response = install_through_form(
        client_for(operator), values__replicas="3", values__apiKey=SECRET
    )
    assert response.status_code == 302, text(response)[:2000]
    return Instance.objects.get(namespace=namespace, name="web-app")


def test_a_new_major_shows_its_release_notes_and_a_warning_linking_its_upgrade_doc(
    installed: Instance, operator: Any
) -> None:
    response = client_for(operator).get(UPGRADE)
    html = text(response)

    assert response.status_code == 200
    assert '<option value="2.0.0" selected>' in html
    notes = html[html.index('id="release-notes"') :]
    # The sections after 1.0.0 up to 2.0.0, newest first; not 1.0.0's.
    assert "what changed after 1.0.0, up to 2.0.0" in notes
    assert notes.index("The API key Secret is gone") < notes.index("A ConfigMap with the")
    assert "First release" not in html
    # Sanitised: the script is gone, the bold kept without its handler.
    assert "<script>alert" not in html and "onclick" not in notes and "<b>bold</b>" in notes
    # The warning, before the form's cards, and the upgrade doc shown on the page:
    # the catalogue's docs pages are not this archive's until its details refresh.
    warning = html[html.index("upgrade-major") : html.index('id="version-title"')]
    assert "2.0.0 is a new major version" in warning
    assert 'href="#upgrade-doc"' in warning and "docs/upgrading.md" in warning
    assert 'id="upgrade-doc"' in notes and "2.0 drops the API key Secret" in notes


def test_the_upgrade_doc_links_the_docs_page_once_the_catalogue_serves_it(
    installed: Instance, operator: Any
) -> None:
    app = App.objects.get(market=installed.market, name="web-app")
    assert app_details_refresh(app=app)

    html = text(client_for(operator).get(UPGRADE))

    assert 'href="/market/apps/web-app/docs/upgrading">the upgrade notes' in html
    assert 'id="upgrade-doc"' not in html


def test_a_minor_upgrade_has_notes_but_no_major_warning(installed: Instance, operator: Any) -> None:
    html = text(client_for(operator).get(UPGRADE + "?version=1.1.0"))

    assert "new major version" not in html
    # 1.1.0 has no CHANGELOG.md and no docs: said in a line, no notes card.
    assert 'id="release-notes"' not in html
    assert "web-app 1.1.0 has no release notes" in html


def test_reconfiguring_the_installed_version_shows_no_notes(
    installed: Instance, operator: Any
) -> None:
    html = text(client_for(operator).get(UPGRADE + "?version=1.0.0"))

    assert 'id="release-notes"' not in html and "no release notes" not in html
    assert "new major version" not in html


def test_the_preview_lists_its_files_at_the_top_each_linking_its_diff(
    installed: Instance, operator: Any
) -> None:
    client = client_for(operator)
    data = upgrade_page(client, values__replicas="4")

    response = client.post(UPGRADE, {**data.dict(), "preview": "1"})
    html = text(response)

    assert response.status_code == 200
    preview = html.index('id="preview"')
    # The preview comes before the version card and the values editor.
    assert preview < html.index('id="version-title"') < html.index('name="values.replicas"')
    files = html[preview : html.index("upgrade-preview__diff", preview)]
    assert "3 files change: 1 added, 1 changed, 1 removed; 1 value changes." in " ".join(
        files.split()
    )
    entries = {
        path: (change, anchor)
        for path, change, anchor in (
            ("configmap.yaml", "added", "#preview-file-1"),
            ("deployment.yaml", "changed", "#preview-file-2"),
            ("secret.yaml", "removed", "#preview-file-3"),
        )
    }
    for path, (change, anchor) in entries.items():
        entry = files[files.index(f'data-file="{path}"') :]
        entry = entry[: entry.index("</li>")]
        assert f'data-change="{change}"' in entry and f'href="{anchor}"' in entry
        section = html.index(f'id="{anchor[1:]}"')
        assert f"+++ upgrade/{path}" in html[section:] or f"--- r1/{path}" in html[section:]
    assert 'href="#preview-file-values"' in files and 'id="preview-file-values"' in html
    assert LONG_VALUE in html and "diff-block--wrap" in html
    assert SECRET not in response.content.decode()
    assert not Operation.objects.filter(kind="upgrade").exists()


def test_a_refused_submit_shows_the_error_summary_linking_each_field(
    installed: Instance, operator: Any
) -> None:
    client = client_for(operator)
    data = upgrade_page(client, values__replicas="0", values__logLevel="loud")

    response = client.post(UPGRADE, {**data.dict(), "upgrade": "1"})
    html = response.content.decode()

    assert response.status_code == 400
    summary = html[
        html.index('id="error-summary"') : html.index("</ul>", html.index("error-summary"))
    ]
    assert "data-focus-on-load" in summary
    assert "Nothing was upgraded: 2 problems need fixing" in text(response)
    replicas = html.index('name="values.replicas"')
    field_id = html[html.rindex("<input", 0, replicas) :].split('id="', 1)[1].split('"', 1)[0]
    assert f'<a href="#{field_id}" data-error-link>Replicas must be at least 1.</a>' in summary
    # It sits at the top of the form, above the preview and every card.
    assert html.index('id="error-summary"') < html.index('id="version-title"')
    assert "install-form.js" in html
    assert not Operation.objects.filter(kind="upgrade").exists()


def test_a_service_refusal_is_in_the_error_summary(installed: Instance, operator: Any) -> None:
    client = client_for(operator)
    data = upgrade_page(client)
    # Another operation started after the page was loaded: the service refuses.
    Operation.objects.create(instance=installed, kind="upgrade", state="queued")

    refused = client.post(UPGRADE, {**data.dict(), "upgrade": "1"})

    assert refused.status_code == 409
    summary = text(refused)[text(refused).index('id="error-summary"') :]
    assert "Nothing was upgraded: one problem needs fixing" in summary
    assert "has an operation in progress" in summary
    assert Operation.objects.filter(instance=installed).count() == 2  # install + that one


def test_a_hostile_changelog_version_heading_flood_still_renders_the_page(
    major: Market, namespace: Namespace, operator: Any, eager_tasks: None, tmp_path: Path
) -> None:
    flood = "".join(f"## 2.{n}.0\n\n<img src=x onerror=alert({n})>\n\n" for n in range(5000))
    changelog = "# Changes\n\n## 3.0.0\n\n" + "- line\n" * 20000 + flood
    publish(
        major,
        tmp_path / "hostile",
        "web-app",
        "3.0.0",
        web("3.0.0", extra={"CHANGELOG.md": changelog}),
    )
    market_sync(market=major)
    assert install_through_form(client_for(operator), values__replicas="3").status_code == 302

    html = text(client_for(operator).get(UPGRADE))

    assert "3.0.0 is a new major version" in html and "has no upgrade doc" in html
    assert "onerror" not in html and "<img" not in html
    assert "Cut at 64 KiB" in html


def test_the_rollback_dialog_loads_what_the_rollback_changes_with_secrets_masked(
    installed: Instance, operator: Any
) -> None:
    client = client_for(operator)
    data = upgrade_page(client, values__replicas="4")
    assert client.post(UPGRADE, {**data.dict(), "upgrade": "1"}).status_code == 302
    assert Instance.objects.get(pk=installed.pk).version == "2.0.0"
    changes_url = DETAIL + "rollback/changes/?revision=1"
    page = text(client.get(DETAIL))
    assert f'hx-get="{changes_url}"' in page and 'id="rollback-1-changes"' in page

    response = client.get(changes_url)
    html = " ".join(text(response).split())

    assert response.status_code == 200
    assert "Version: <strong>2.0.0</strong> → <strong>1.0.0</strong>" in html
    assert "3 files change: 1 added, 1 changed, 1 removed; 1 value changes." in html
    assert 'data-file="secret.yaml" data-change="added"' in html
    assert 'data-file="configmap.yaml" data-change="removed"' in html
    assert (
        '<li data-value="replicas"><code>replicas</code>: <code class="changes__before">4</code>'
        ' → <code class="changes__after">3</code></li>'
    ) in html
    # The secret is the mask on both sides: neither shown nor listed as changed.
    assert SECRET not in response.content.decode() and 'data-value="apiKey"' not in html
    assert f"{DETAIL}diff/?from=2&amp;to=1" in response.content.decode()


def test_rollback_changes_are_refused_for_bad_revisions_and_other_teams(
    installed: Instance, operator: Any
) -> None:
    client = client_for(operator)
    stranger = client_for(make_user("mallory"))

    assert client.get(DETAIL + "rollback/changes/?revision=9").status_code == 404
    assert client.get(DETAIL + "rollback/changes/?revision=x").status_code == 404
    assert client.get(DETAIL + "rollback/changes/?revision=99999999999999").status_code == 404
    assert client.get(DETAIL + "rollback/changes/").status_code == 404
    assert stranger.get(DETAIL + "rollback/changes/?revision=1").status_code == 404
    assert client.post(DETAIL + "rollback/changes/?revision=1").status_code == 405
