"""The build page in a real browser: start a build from the form, watch it finish
through htmx polling, read the resources and the lint report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from builds.models import Build
from builds.services.profiles import profile_create
from portal.actors import Actor
from portal.models import Role
from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.builds.helpers import INTRANET, TPL_TEMPLATE, run_build, tar_gz, write_source
from tests.factories import PASSWORD, make_team, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_build_from_the_form_and_follow_it_live(page: Page, tmp_path: Path, settings: Any) -> None:
    settings.BUILDS_DIR = tmp_path / "builds-data"
    settings.BUILD_RESOURCE_ENVIRONMENT = {"GOPROXY": "https://goproxy.corp.example.net"}
    staff = make_user("browser-root", staff=True)
    profile_create(actor=Actor(user=staff), name="intranet", values=INTRANET)
    operator = make_user("browser-olga")
    make_team("ops", members={operator: Role.OPERATOR})
    source = write_source(
        tmp_path,
        files={
            "templates/deploy.yaml.tpl": TPL_TEMPLATE,
            "docs/notes.md": "Fetches from https://pypi.org/simple in development.\n",
        },
    )
    archive = tmp_path / "mirror-test.tgz"
    archive.write_bytes(tar_gz(source))
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, operator.username, PASSWORD)
    errors.clear()

    page.goto("/builds/new/")
    screenshot(page, "build-new")
    page.set_input_files("input[name=archive]", str(archive))
    page.select_option("select[name=profile]", "intranet")
    page.fill("textarea[name=overrides]", "NPM_REGISTRY_URL=https://npm.corp.example.net")
    page.get_by_role("button", name="Start build").click()
    page.wait_for_url("**/builds/*/")
    expect(page.locator("#build-live .status-badge").first).to_contain_text("Queued")

    run_build(Build.objects.get())  # the worker, in this process

    # No reload: the page polls itself until the build is done.
    expect(page.locator("#build-live .status-badge").first).to_contain_text(
        "Succeeded", timeout=15000
    )
    expect(page.locator(".lint-report")).to_contain_text("docs/notes.md:1")
    expect(page.locator(".lint-report")).to_contain_text("pypi.org")
    row = page.locator('tr[data-variable="NPM_REGISTRY_URL"]')
    expect(row).to_contain_text("https://npm.corp.example.net")
    expect(row).to_contain_text("build")
    expect(page.locator('tr[data-variable="PYTHON_PIP"]')).to_contain_text("profile")
    expect(page.locator('tr[data-variable="GOPROXY"]')).to_contain_text("environment")
    expect(page.locator('tr[data-variable="MAVEN_IMAGE"]')).to_contain_text("default")
    expect(page.get_by_role("link", name="Download mirror-test-1.0.0.tgz")).to_be_visible()
    screenshot(page, "build-detail")
    assert errors == []
