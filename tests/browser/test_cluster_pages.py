"""The clusters pages in a real browser: staff add a cluster of the real API server
through the form and read its state in the list; a refusal says why, and the token
is asked for again rather than shown. Screenshots on a laptop and a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from deployments.models import Cluster
from tests.browser.support import log_in, screenshot
from tests.browser.test_components import ConsoleErrors
from tests.deployments.kube_support import KubeServer
from tests.deployments.kube_support import kube as kube  # the fixture
from tests.factories import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def fill(page: Page, kube: KubeServer, *, allow_private: bool) -> None:
    page.goto("/clusters/new/")
    page.locator("#id_name").fill("prod")
    page.locator("#id_description").fill("Production, eu-west")
    page.locator("#id_server").fill(kube.url)
    page.locator("#id_ca_cert").fill(kube.ca_cert)
    page.locator("#id_token").fill(kube.token)
    if allow_private:
        page.locator("#id_allow_private_network").check()


def test_staff_add_a_cluster_and_see_its_state(page: Page, kube: KubeServer) -> None:
    staff = make_user("browser-admin", staff=True)
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, staff.username, PASSWORD)

    fill(page, kube, allow_private=False)
    page.get_by_role("button", name="Add cluster").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("a cluster inside your network needs the allow flag")
    expect(page.locator("#id_token")).to_have_value("")
    assert kube.token not in page.content()
    screenshot(page, "clusters-new-refused-1366")
    errors.clear()  # the refusal's own 400, logged by the browser

    fill(page, kube, allow_private=True)
    page.get_by_role("button", name="Add cluster").click()

    page.wait_for_url("**/clusters/")
    expect(page.get_by_text("Cluster prod added: Kubernetes v1.34.2.")).to_be_visible()
    row = page.locator("tbody tr").filter(has_text="prod")
    expect(row).to_contain_text("Reachable")
    expect(row).to_contain_text("v1.34.2")
    expect(row).to_contain_text(kube.url)
    assert Cluster.objects.get(name="prod").reachable is True
    assert kube.token not in page.content()
    screenshot(page, "clusters-list-1366")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("tbody tr").filter(has_text="prod")).to_contain_text("Reachable")
    screenshot(page, "clusters-list-390")
    page.goto("/clusters/new/")
    screenshot(page, "clusters-new-390")
    assert errors == []
