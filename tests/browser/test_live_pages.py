"""The live state of an instance on the real Kubernetes API server, in a real browser
(SPEC section 9): a hand-edited ConfigMap shows as drifted with its diff, a deleted
Service as missing; Repair, confirmed in its dialog, puts both back and the page then
shows every object synced. Also the instances list's Health column and the
new-namespace form with its cluster choice.

Operations run eagerly when the repair's transaction commits (the live server's
request thread), as a worker would right after. Screenshots at 1366x768 and 390x844:
/tmp/liveui-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from deployments.models import Cluster, Instance, Namespace, Operation
from deployments.services.clusters import cluster_access
from deployments.services.instances import instance_install
from deployments.targets.kubernetes.session import kube_session
from market.models import Market
from portal.actors import Actor
from portal.models import Role
from tests.browser.support import log_in
from tests.browser.test_components import ConsoleErrors
from tests.deployments.conftest import cluster, kapps_market  # noqa: F401 - fixtures
from tests.deployments.kube_live import unique_name
from tests.deployments.kube_support import kube  # noqa: F401 - a fixture
from tests.deployments.test_kube_workflow import patch
from tests.factories import PASSWORD, make_team, make_user

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.slow,
    pytest.mark.services,
    pytest.mark.usefixtures("cluster", "kapps_market", "eager_tasks"),
]

LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
SHOTS = Path("/tmp")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=SHOTS / f"liveui-{name}.png", full_page=False)


@pytest.fixture
def shop(settings: Any) -> Instance:
    operator = make_user("kate")
    team = make_team("shop", members={operator: Role.OPERATOR})
    namespace = Namespace.objects.create(
        name=unique_name("lb"),
        team=team,
        target="kubernetes",
        cluster=Cluster.objects.get(name="test"),
    )
    instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        market=Market.objects.get(name="kapps"),
        name="shop",
        app="shop-app",
        version="1.0.0",
        values={"replicas": 2, "password": "browser-secret"},
    )
    instance = Instance.objects.get(namespace=namespace, name="shop")
    assert instance.status == "deployed", instance.status_message
    return instance


def test_a_drifted_object_shows_its_diff_and_repair_puts_it_back(
    page: Page, shop: Instance
) -> None:
    ns = shop.namespace.name
    registered = Cluster.objects.get(name="test")
    patch(
        registered, f"/api/v1/namespaces/{ns}/configmaps/shop-config", {"data": {"replicas": "9"}}
    )
    with kube_session(cluster_access(registered)) as session:
        session.request("DELETE", f"/api/v1/namespaces/{ns}/services/shop")
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    log_in(page, "kate", PASSWORD)

    # Refresh from the Resources tab: what the cluster holds now.
    page.goto(f"/instances/{ns}/shop/?tab=resources")
    page.get_by_role("link", name="Refresh").click()
    page.wait_for_url("**?refresh=1&tab=resources")
    panel = page.get_by_role("tabpanel", name="Resources")
    config = panel.locator('tr[data-resource="ConfigMap/shop-config"]')
    expect(config.locator(".status-badge").first).to_have_text("Drifted")
    expect(config).to_contain_text("changed in the cluster: data.replicas")
    expect(panel.locator('tr[data-resource="Service/shop"] .status-badge').first).to_have_text(
        "Missing"
    )
    expect(page.locator(".instance-summary")).to_contain_text("1 drifted")
    expect(page.locator(".instance-summary")).to_contain_text("1 missing")
    expect(panel).to_contain_text("seconds ago")
    diff = panel.locator('[data-diff="ConfigMap/shop-config"] details')
    diff.locator("summary").click()
    expect(diff.locator(".diff-line--add")).to_contain_text("replicas: '9'")
    expect(diff.locator(".diff-line--del")).to_contain_text("replicas: '2'")
    assert "browser-secret" not in page.content()
    config.scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, document.querySelector('#instance').offsetTop - 80)")
    shot(page, "instance-1366")

    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "instance-top-390")
    diff.scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, -300)")
    shot(page, "instance-390")
    page.goto("/instances/")
    shot(page, "list-390")
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    kube_row = page.locator(f'tr[data-instance="{ns}/shop"]')
    expect(kube_row.locator(".instance-health")).to_contain_text("1 drifted")
    shot(page, "list-1366")

    # Repair, confirmed in its dialog: the page comes back with every object synced.
    page.goto(f"/instances/{ns}/shop/?tab=resources")
    page.get_by_role("button", name="Repair").click()
    dialog = page.get_by_role("dialog", name=f"Repair {shop.name}?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("1 drifted, 1 missing")
    shot(page, "repair-dialog-1366")
    dialog.get_by_role("button", name="Repair").click()
    page.wait_for_url(f"**/instances/{ns}/shop/?tab=resources")
    expect(page.locator(".flash--success")).to_contain_text("Repairing")
    operation = Operation.objects.get(instance=shop, kind="repair")
    assert operation.state == "succeeded", operation.error
    panel = page.get_by_role("tabpanel", name="Resources")
    rows = panel.locator("tr[data-sync]")
    expect(rows).to_have_count(5)
    expect(panel.locator('tr[data-sync="synced"]')).to_have_count(5)
    expect(page.locator(".instance-summary")).to_contain_text("in sync")
    shot(page, "repaired-1366")
    assert errors == []


def test_the_new_namespace_form_asks_for_a_cluster_only_for_kubernetes(page: Page) -> None:
    operator = make_user("kate")
    make_team("shop", members={operator: Role.OPERATOR})
    errors = ConsoleErrors()
    errors.watch(page)
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    log_in(page, "kate", PASSWORD)

    page.goto("/instances/")
    page.get_by_role("link", name="New namespace").click()
    page.wait_for_url("**/instances/namespaces/new/")
    cluster_select = page.get_by_label("Cluster", exact=True)
    expect(cluster_select).to_be_hidden()  # GitOps is chosen
    page.get_by_label("Kubernetes cluster").check()
    expect(cluster_select).to_be_visible()
    name = unique_name("lbns")
    page.get_by_label("Name").fill(name)
    # Refused without a cluster: said on the form, nothing created.
    page.get_by_role("button", name="Create namespace").click()
    expect(page.locator(".form__errors")).to_contain_text("needs a cluster")
    expect(page.get_by_label("Kubernetes cluster")).to_be_checked()
    expect(page.get_by_label("Cluster", exact=True)).to_be_visible()
    shot(page, "namespace-1366")
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    shot(page, "namespace-390")
    page.set_viewport_size(LAPTOP)  # type: ignore[arg-type]
    page.get_by_label("Cluster", exact=True).select_option("test")
    page.get_by_role("button", name="Create namespace").click()
    page.wait_for_url("**/instances/#namespaces")
    row = page.locator(f'tr[data-namespace="{name}"]')
    expect(row).to_contain_text("Kubernetes cluster")
    expect(row).to_contain_text("test")
    assert Namespace.objects.get(name=name).cluster == Cluster.objects.get(name="test")
    # The refused submission answered 400, as it should; nothing else went wrong.
    assert [error for error in errors if "status of 400" not in error] == []
