"""The live state in the browser pages (SPEC section 9), against the real API server:
the Resources tab of an instance on a cluster (badges, messages, the drift diff,
Refresh, Repair and who may press it), the Health column of the instances list, the
new-namespace page with its target and cluster, and a GitOps instance's tab."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.models import Cluster, Instance, Namespace, Operation, ResourceState
from deployments.services.clusters import cluster_access
from deployments.services.instances import instance_install
from deployments.targets.kubernetes.session import kube_session
from market.models import Market
from portal.actors import Actor
from portal.crypto import encrypt_json
from portal.models import AuditEvent, Role
from tests.deployments.kube_live import unique_name
from tests.deployments.kube_support import KubeServer
from tests.deployments.test_kube_workflow import patch
from tests.factories import make_team, make_user

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
    pytest.mark.services,
]

SECRET = "hunter2-secret"


def client_for(user: Any, **options: Any) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def text(response: Any) -> str:
    return unescape(response.content.decode())


def row(html: str, resource: str) -> str:
    """The table row of one object (``Kind/name``)."""
    start = html.index(f'data-resource="{resource}"')
    return html[start : html.index("</tr>", start)]


@pytest.fixture
def shop_namespace(cluster: Cluster, operator: Any) -> Namespace:
    """A namespace of the operator's team on the cluster (a fresh Kubernetes namespace:
    deleted ones stay Terminating on a server without controllers)."""
    team = make_team("shop", members={operator: Role.OPERATOR})
    return Namespace.objects.create(
        name=unique_name("lw"), team=team, target="kubernetes", cluster=cluster
    )


@pytest.fixture
def shop(shop_namespace: Namespace, kapps_market: Market, operator: Any) -> Instance:
    instance_install(
        actor=Actor(user=operator),
        namespace=shop_namespace,
        market=kapps_market,
        name="shop",
        app="shop-app",
        version="1.0.0",
        values={"password": SECRET},
    )
    instance = Instance.objects.get(namespace=shop_namespace, name="shop")
    assert instance.status == "deployed", instance.status_message
    return instance


def url(instance: Instance, rest: str = "") -> str:
    return f"/instances/{instance.namespace.name}/{instance.name}/{rest}"


def drift(cluster: Cluster, ns: str) -> None:
    """A hand edit of a managed field, and a deleted Service."""
    patch(cluster, f"/api/v1/namespaces/{ns}/configmaps/shop-config", {"data": {"replicas": "9"}})
    with kube_session(cluster_access(cluster)) as session:
        session.request("DELETE", f"/api/v1/namespaces/{ns}/services/shop")


def test_the_resources_tab_shows_drift_and_repair_puts_it_back(
    cluster: Cluster, shop: Instance, operator: Any
) -> None:
    ns = shop.namespace.name
    client = client_for(operator)
    drift(cluster, ns)

    page = client.get(url(shop, "?refresh=1&tab=resources"))

    html = text(page)
    assert page.status_code == 200
    config, service = row(html, "ConfigMap/shop-config"), row(html, "Service/shop")
    assert 'data-state="drifted"' in config and ">Drifted<" in config
    assert "changed in the cluster: data.replicas" in config
    assert 'data-state="missing"' in service and "not in the cluster" in service
    assert 'data-state="synced"' in row(html, "Deployment/shop")
    assert 'data-state="progressing"' in row(html, "Deployment/shop")  # no pods run here
    # The diff of the drifted object, folded, applied against live.
    diff = html[html.index('data-diff="ConfigMap/shop-config"') :]
    diff = diff[: diff.index("</details>")]
    assert "<details" in diff and "diff-line--del" in diff and "diff-line--add" in diff
    assert re.search(r'diff-line--add">.*?replicas: .?9', diff, re.S)
    assert 'data-diff="Service/shop"' not in html  # nothing to compare with
    # Grouped by kind in apply order, each group headed by its kind.
    kinds = re.findall(r'<tbody class="live-group" data-kind="([^"]+)"', html)
    first = {r.kind: r.position for r in shop.resources.order_by("-position")}
    assert kinds == sorted(first, key=first.__getitem__)
    assert "1 drifted" in html and "1 missing" in html  # the summary at the top
    assert "Checked " in html and "seconds ago" in html
    assert f'href="/instances/{ns}/shop/?refresh=1&tab=resources"' in html
    assert f'action="/instances/{ns}/shop/repair/"' in html
    assert SECRET not in html

    repaired = client.post(url(shop, "repair/"))

    assert repaired.status_code == 302
    assert repaired["Location"] == url(shop, "?tab=resources")
    operation = Operation.objects.get(instance=shop, kind="repair")
    assert operation.state == "succeeded", operation.error
    assert AuditEvent.objects.filter(action="instance.repair").count() == 1
    after = text(client.get(repaired["Location"]))
    assert "Repairing" in after  # the flash message
    # The look that showed the drift predates the repair: the page looks again.
    assert set(re.findall(r'data-sync="(\w+)"', after)) == {"synced"}
    assert "drifted" not in after.split('class="instance-summary"')[1].split("</dl>")[0]
    assert shop.revisions.count() == 1


def test_a_stored_look_is_read_without_asking_the_cluster_and_without_a_query_per_row(
    shop: Instance, operator: Any
) -> None:
    client = client_for(operator)
    client.get(url(shop, "?refresh=1"))
    shop.refresh_from_db()
    checked = shop.live_checked_at
    assert checked is not None

    client.get(url(shop, "?tab=resources"))  # caches warmed (the market's app entry)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(shop, "?tab=resources")).status_code == 200
    ResourceState.objects.bulk_create(
        ResourceState(
            instance=shop,
            position=100 + n,
            api_version="v1",
            kind="ConfigMap",
            namespace=shop.namespace.name,
            name=f"extra-{n}",
            sync="drifted",
            health="healthy",
            diff="--- applied\n+++ live\n@@ -1 +1 @@\n-a: 1\n+a: 2\n",
        )
        for n in range(12)
    )
    with CaptureQueriesContext(connection) as many:
        html = text(client.get(url(shop, "?tab=resources")))

    assert html.count('data-resource="ConfigMap/extra-') == 12
    assert len(many) == len(few)
    shop.refresh_from_db()
    assert shop.live_checked_at == checked  # nothing looked at the cluster again


def test_a_failed_look_says_why_and_keeps_the_last_rows(
    cluster: Cluster, shop: Instance, operator: Any, kube: KubeServer
) -> None:
    client = client_for(operator)
    client.get(url(shop, "?refresh=1"))
    # The cluster now answers with a token that may read nothing.
    Cluster.objects.filter(pk=cluster.pk).update(token_encrypted=encrypt_json(kube.limited_token))

    html = text(client.get(url(shop, "?refresh=1&tab=resources")))

    shop.refresh_from_db()
    assert shop.live_error
    assert "The last look at the cluster failed:" in html and shop.live_error in html
    assert "last look failed" in html  # beside the summary at the top
    assert 'data-resource="Deployment/shop"' in html  # the rows of the last good look


def test_an_unreachable_cluster_is_said_on_the_page(
    cluster: Cluster, shop: Instance, operator: Any
) -> None:
    client = client_for(operator)
    client.get(url(shop, "?refresh=1"))
    Cluster.objects.filter(pk=cluster.pk).update(server="https://127.0.0.1:9")

    html = text(client.get(url(shop, "?refresh=1&tab=resources")))

    assert "The last look at the cluster failed:" in html
    assert 'data-resource="Deployment/shop"' in html


def test_who_may_see_and_repair(cluster: Cluster, shop: Instance, operator: Any) -> None:
    ns = shop.namespace.name
    viewer = make_user("vera")
    shop.namespace.team.memberships.create(user=viewer, role=Role.VIEWER)
    stranger = client_for(make_user("mallory"))

    seen = text(client_for(viewer).get(url(shop, "?tab=resources")))
    refused = client_for(viewer).post(url(shop, "repair/"))

    assert 'data-resource="Deployment/shop"' in seen
    assert "/repair/" not in seen and ">Repair<" not in seen
    assert refused.status_code in (403, 404)
    assert stranger.get(url(shop)).status_code == 404
    assert stranger.post(url(shop, "repair/")).status_code == 404
    assert stranger.get(f"/instances/{ns}/nothing/repair/").status_code == 405
    # CSRF: a POST without the token changes nothing.
    forged = client_for(operator, enforce_csrf_checks=True).post(url(shop, "repair/"))
    assert forged.status_code == 403
    assert not Operation.objects.filter(kind="repair").exists()


def test_no_repair_once_uninstalled(shop: Instance, operator: Any) -> None:
    client = client_for(operator)
    Instance.objects.filter(pk=shop.pk).update(status="uninstalled")

    html = text(client.get(url(shop, "?tab=resources")))
    refused = client.post(url(shop, "repair/"), follow=True)

    assert ">Repair<" not in html
    assert "only a deployed one is repaired" in text(refused)
    assert not Operation.objects.filter(kind="repair").exists()


def test_the_list_shows_health_and_what_is_out_of_sync(
    cluster: Cluster, shop: Instance, operator: Any
) -> None:
    drift(cluster, shop.namespace.name)
    client = client_for(operator)
    client.get(url(shop, "?refresh=1"))
    namespace = Namespace.objects.create(name="shop-gitops", team=shop.namespace.team)
    gitops = Instance.objects.create(
        namespace=namespace, name="web", market=shop.market, app_name="web-app", status="deployed"
    )

    html = text(client.get("/instances/"))

    kube_row = row_of(html, f"{shop.namespace.name}/shop")
    assert ">Health<" in html
    assert 'data-health="unknown"' in kube_row or 'data-health="progressing"' in kube_row
    assert "1 drifted" in kube_row and "1 missing" in kube_row
    gitops_row = row_of(html, f"{namespace.name}/{gitops.name}")
    assert "—" in gitops_row.split("Deployed")[1] and "data-health" not in gitops_row
    # The namespaces say where they deploy.
    ns_row = html[html.index(f'data-namespace="{shop.namespace.name}"') :]
    ns_row = ns_row[: ns_row.index("</tr>")]
    assert "Kubernetes cluster" in ns_row and "<code>test</code>" in ns_row


def row_of(html: str, instance: str) -> str:
    start = html.index(f'data-instance="{instance}"')
    return html[start : html.index("</tr>", start)]


def test_a_gitops_instance_lists_its_files_and_says_who_applies_them(
    apps_market: Market, operator: Any, gitops_repo: Any
) -> None:
    team = make_team("payments", members={operator: Role.OPERATOR})
    ns = Namespace.objects.create(name="pay-prod", team=team)
    instance_install(
        actor=Actor(user=operator),
        namespace=ns,
        market=apps_market,
        name="redis-lite",
        app="redis-lite",
        version="1.0.0",
        values={},
    )

    html = text(client_for(operator).get("/instances/pay-prod/redis-lite/?tab=resources"))

    assert "a GitOps controller (such as Argo CD) applies them" in html
    assert "<em>committed</em>" in html
    assert re.search(r'data-resource="[A-Za-z]+/redis-lite"', html)
    assert "?refresh=1" not in html and "/repair/" not in html
    assert "In the cluster" not in html


# --- the new-namespace page ------------------------------------------------------------


def test_the_new_namespace_page_offers_the_targets_and_the_registered_clusters(
    cluster: Cluster, operator: Any
) -> None:
    make_team("shop", members={operator: Role.OPERATOR})

    page = client_for(operator).get("/instances/namespaces/new/")

    html = text(page)
    assert page.status_code == 200
    assert 'type="radio" name="target" value="gitops"' in html
    assert 'value="kubernetes"' in html and "Kubernetes cluster" in html
    assert '<option value="test">test</option>' in html
    assert 'data-show-when-target="kubernetes"' in html
    assert cluster.server not in html  # where the cluster is: staff only


def test_an_operator_creates_a_namespace_on_a_cluster(cluster: Cluster, operator: Any) -> None:
    make_team("shop", members={operator: Role.OPERATOR})
    client = client_for(operator)

    created = client.post(
        "/instances/namespaces/new/",
        {"team": "shop", "name": "shop-live", "target": "kubernetes", "cluster": "test"},
    )

    assert created.status_code == 302
    namespace = Namespace.objects.get(name="shop-live")
    assert (namespace.target, namespace.cluster) == ("kubernetes", cluster)
    event = AuditEvent.objects.get(action="namespace.create")
    assert event.detail["cluster"] == "test"
    listed = text(client.get("/instances/"))
    assert 'data-namespace="shop-live"' in listed and "<code>test</code>" in listed


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"target": "kubernetes"}, "needs a cluster"),
        ({"target": "kubernetes", "cluster": "nowhere"}, "No such cluster: 'nowhere'"),
        ({"target": "gitops", "cluster": "test"}, "Only a namespace with target 'kubernetes'"),
        ({"target": "mainframe"}, "Select a valid choice"),
        ({"target": "kubernetes", "cluster": "test", "name": "Bad Name"}, "Namespace name"),
    ],
)
def test_a_refused_namespace_is_shown_on_the_form_and_nothing_is_created(
    cluster: Cluster, operator: Any, data: dict[str, str], said: str
) -> None:
    make_team("shop", members={operator: Role.OPERATOR})

    refused = client_for(operator).post(
        "/instances/namespaces/new/", {"team": "shop", "name": "shop-x"} | data
    )

    assert refused.status_code == 400
    html = text(refused)
    assert said in html
    assert 'role="alert"' in html or "form-field__errors" in html
    assert Namespace.objects.filter(team__name="shop").count() == 0
    assert not AuditEvent.objects.filter(action="namespace.create").exists()


def test_only_operators_create_namespaces_and_csrf_is_enforced(
    cluster: Cluster, operator: Any
) -> None:
    viewer = make_user("vera")
    make_team("shop", members={operator: Role.OPERATOR, viewer: Role.VIEWER})
    data = {"team": "shop", "name": "shop-y", "target": "kubernetes", "cluster": "test"}

    page = text(client_for(viewer).get("/instances/namespaces/new/"))
    refused = client_for(viewer).post("/instances/namespaces/new/", data)
    forged = client_for(operator, enforce_csrf_checks=True).post("/instances/namespaces/new/", data)

    assert "You are not an operator in any team" in page
    assert refused.status_code == 400
    assert forged.status_code == 403
    assert not Namespace.objects.filter(name="shop-y").exists()


def test_the_install_form_creates_a_namespace_on_a_cluster_inline(
    cluster: Cluster, operator: Any, kapps_market: Market
) -> None:
    make_team("shop", members={operator: Role.OPERATOR})
    client = client_for(operator)
    install = "/instances/new/?market=kapps&app=shop-app&version=1.0.0"
    form = text(client.get(install))
    assert 'name="target"' in form and '<option value="test">test</option>' in form

    created = client.post(
        "/instances/namespaces/new/",
        {"team": "shop", "name": "shop-z", "target": "kubernetes", "cluster": "test",
         "next": install},
    )  # fmt: skip
    refused = client.post(
        "/instances/namespaces/new/",
        {"team": "shop", "name": "shop-w", "target": "kubernetes", "next": install},
        follow=True,
    )

    assert created.status_code == 302 and created["Location"] == install
    assert Namespace.objects.get(name="shop-z").cluster == cluster
    assert "Namespace not created: A namespace with target 'kubernetes' needs a cluster" in text(
        refused
    )
    assert not Namespace.objects.filter(name="shop-w").exists()


def test_a_fresh_instance_on_a_cluster_is_looked_at_once_when_its_page_opens(
    shop: Instance, operator: Any
) -> None:
    Instance.objects.filter(pk=shop.pk).update(live_checked_at=timezone.now() - timedelta(hours=1))

    html = text(client_for(operator).get(url(shop, "?tab=resources")))

    shop.refresh_from_db()
    assert shop.live_checked_at is not None
    assert timezone.now() - shop.live_checked_at < timedelta(minutes=1)
    assert "seconds ago" in html


def test_the_page_of_a_cluster_instance_speaks_of_the_cluster_not_the_gitops_repository(
    shop: Instance, operator: Any
) -> None:
    html = client_for(operator).get(url(shop)).content.decode()

    cluster = shop.namespace.cluster
    assert cluster is not None
    assert f"applied to cluster <code>{cluster.name}</code>" in html  # manifests tab
    assert "is deleted, cluster-wide ones and Services included" in html  # uninstall dialog
    assert "Record version" in html  # the revisions table
    assert "GitOps repository" not in html
