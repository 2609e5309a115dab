"""What the instance page says of an operation in progress: one wording of states for
people (a rollback reads "Rolling back", not "Upgrading"; a running operation is not
"Queued"), steps done of all, the time elapsed, the step chart, and the dependency
installs nested under the install that caused them."""

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

from deployments.models import (
    Instance,
    Namespace,
    Operation,
    OperationState,
    StepState,
    instance_label,
    operation_label,
)
from deployments.selectors.operations import CHART_LABEL_WIDTH, operation_progress
from deployments.services.instances import instance_install, instance_rollback, instance_upgrade
from deployments.workflow.engine import operation_claim, operation_execute
from market.models import Market
from portal.actors import Actor

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("gitops_repo")]


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


BADGE = re.compile(
    r'class="status-badge [^"]*" data-state="[^"]*">'
    r'<span class="status-badge__dot" aria-hidden="true"></span>([^<]*)</span>'
)


def badge(html: str, element_id: str) -> str:
    """The text of the first status badge after the element with ``element_id``
    (or after ``element_id`` itself when it is an attribute, ``name="value"``)."""
    anchor = element_id if "=" in element_id else f'id="{element_id}"'
    found = BADGE.search(html, html.index(anchor))
    assert found, html
    return unescape(found.group(1)).strip()


@pytest.mark.parametrize(
    ("kind", "state", "extra", "said"),
    [
        ("install", "queued", {}, "Queued"),
        ("install", "running", {}, "Installing"),
        ("upgrade", "running", {}, "Upgrading"),
        ("rollback", "running", {}, "Rolling back"),
        ("uninstall", "running", {}, "Uninstalling"),
        ("upgrade", "running", {"undoing": True}, "Undoing"),
        ("upgrade", "running", {"retrying": True}, "Waiting to retry"),
        ("rollback", "succeeded", {}, "Succeeded"),
        ("upgrade", "rolled_back", {}, "Rolled back"),
        ("install", "failed", {}, "Failed"),
    ],
)
def test_an_operation_is_named_by_what_it_does(
    kind: str, state: str, extra: dict[str, bool], said: str
) -> None:
    assert operation_label(kind=kind, state=state, **extra) == said


@pytest.mark.parametrize(
    ("status", "kind", "state", "said"),
    [
        ("upgrading", "rollback", "running", "Rolling back"),
        ("upgrading", "rollback", "queued", "Rollback queued"),
        ("upgrading", "upgrade", "running", "Upgrading"),
        ("installing", "install", "queued", "Install queued"),
        ("uninstalling", "uninstall", "running", "Uninstalling"),
        ("upgrading", "", "", "Upgrading"),  # no active operation known: the stored word
        ("deployed", "", "", "Deployed"),
        ("failed", "", "", "Failed"),
    ],
)
def test_an_instance_is_named_by_its_active_operation(
    status: str, kind: str, state: str, said: str
) -> None:
    assert instance_label(status=status, active_kind=kind, active_state=state) == said


def test_progress_counts_steps_done_and_draws_each_started_step_on_one_axis(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    requested = instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        name="cache",
        market=apps_market,
        app="redis-lite",
        version="1.0.0",
    )
    operation = requested.operation
    start = timezone.now() - timedelta(seconds=10)
    Operation.objects.filter(pk=operation.pk).update(state="running", started_at=start)
    steps = operation.steps.order_by("position")
    steps.filter(name="resolve").update(
        state="succeeded", started_at=start, finished_at=start + timedelta(seconds=2)
    )
    steps.filter(name="fetch").update(state="running", started_at=start + timedelta(seconds=2))

    fresh = Operation.objects.prefetch_related("steps").get(pk=operation.pk)
    progress = operation_progress(fresh, now=start + timedelta(seconds=10))

    assert (progress.done, progress.total, progress.percent) == (1, 7, 14)
    assert progress.elapsed == 10.0 and progress.started
    assert progress.current_step == "fetch"
    resolve, fetch = progress.bars
    assert (resolve.name, resolve.seconds, resolve.tone) == ("resolve", 2.0, "success")
    assert (fetch.name, fetch.seconds, fetch.tone) == ("fetch", 8.0, "info")
    # Resolve takes the first fifth of the axis, fetch the remaining four fifths.
    assert resolve.x == CHART_LABEL_WIDTH
    assert fetch.x == pytest.approx(resolve.x + resolve.width)
    assert fetch.width == pytest.approx(4 * resolve.width)


def test_the_instance_page_says_rolling_back_while_a_rollback_runs(
    apps_market: Market, namespace: Namespace, operator: Any, unconsumed_queue: str
) -> None:
    actor = Actor(user=operator)
    install = instance_install(
        actor=actor, namespace=namespace, name="cache", market=apps_market, app="redis-lite"
    )
    operation_execute(str(install.operation.pk))
    instance = Instance.objects.get(pk=install.instance.pk)
    upgrade = instance_upgrade(actor=actor, instance=instance, values={"port": 6380})
    operation_execute(str(upgrade.operation.pk))
    instance.refresh_from_db()
    assert instance.revisions.count() == 2
    rollback = instance_rollback(actor=actor, instance=instance, revision=1).operation
    client = client_for(operator)

    queued = client.get("/instances/pay-prod/cache/").content.decode()
    assert badge(queued, "instance-status") == "Rollback queued"
    assert badge(queued, "operation-title") == "Queued"

    assert operation_claim(str(rollback.pk))
    rollback.steps.filter(name="resolve").update(state=StepState.RUNNING, started_at=timezone.now())
    running = client.get("/instances/pay-prod/cache/").content.decode()
    partial = client.get(
        f"/instances/pay-prod/cache/operations/{rollback.pk}/steps/", HTTP_HX_REQUEST="true"
    )

    assert Instance.objects.get(pk=instance.pk).status == "upgrading"  # the API's word
    assert badge(running, "instance-status") == "Rolling back"
    assert badge(running, "operation-title") == "Rolling back"
    assert "Upgrading" not in running and ">Queued<" not in running
    listing = client.get("/instances/").content.decode()
    assert badge(listing, 'data-instance="pay-prod/cache"') == "Rolling back"
    live = partial.content.decode()
    assert "HX-Refresh" not in partial
    assert badge(live, "instance-status") == "Rolling back"
    assert badge(live, "operation-title") == "Rolling back"
    assert "0 of 5 steps" in live and "elapsed" in live

    # The test is the worker that took it: its heartbeat stopped, it goes on.
    Operation.objects.filter(pk=rollback.pk).update(heartbeat_at=None)
    operation_execute(str(rollback.pk))
    done = client.get(
        f"/instances/pay-prod/cache/operations/{rollback.pk}/steps/", HTTP_HX_REQUEST="true"
    )
    assert done["HX-Refresh"] == "true"
    html = done.content.decode()
    assert badge(html, "operation-title") == "Succeeded"
    assert badge(html, "instance-status") == "Deployed"
    assert "5 of 5 steps" in html and "took" in html
    assert html.count('class="step-chart__row') == 5


def test_dependency_installs_are_linked_to_and_nested_under_their_cause(
    apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    requested = instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        name="web-app",
        market=apps_market,
        app="web-app",
        version="1.0.0",
        values={"replicas": 2},
    )
    (dependency,) = requested.dependencies
    assert Operation.objects.get(pk=dependency.pk).caused_by_id == requested.operation.pk
    assert list(requested.operation.caused.all()) == [dependency]
    client = client_for(operator)

    page = client.get("/instances/pay-prod/web-app/").content.decode()
    nested = page[page.index('class="operation-deps"') :]
    assert "Dependencies, installed first" in nested
    assert 'data-dependency="redis-lite"' in nested
    assert f'href="/instances/pay-prod/redis-lite/?operation={dependency.pk}' in nested
    # The dependency's own page points back at what asked for it.
    other = client.get("/instances/pay-prod/redis-lite/").content.decode()
    assert "A dependency of" in other
    assert f"/instances/pay-prod/web-app/?operation={requested.operation.pk}" in other

    operation_execute(str(requested.operation.pk))  # runs the dependency first
    page = client.get("/instances/pay-prod/web-app/").content.decode()
    nested = page[page.index('class="operation-deps"') :]
    assert 'data-state="succeeded"' in nested and "7 of 7 steps" in nested


def test_the_instance_page_reads_in_fixed_queries_however_many_operations(
    apps_market: Market, namespace: Namespace, operator: Any, eager_tasks: None
) -> None:
    actor = Actor(user=operator)
    install = instance_install(
        actor=actor,
        namespace=namespace,
        name="web-app",
        market=apps_market,
        app="web-app",
        version="1.0.0",
        values={"replicas": 1},
    )
    instance = Instance.objects.get(pk=install.instance.pk)
    client = client_for(operator)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            # The install stays the one shown: its card nests the dependency install.
            url = f"/instances/pay-prod/web-app/?tab=operations&operation={install.operation.pk}"
            assert client.get(url).status_code == 200
        return len(captured)

    before = queries()
    for replicas in (2, 3, 4):
        instance_upgrade(
            actor=actor, instance=instance, version="1.0.0", values={"replicas": replicas}
        )
        instance.refresh_from_db()
    assert Operation.objects.filter(instance=instance, state=OperationState.SUCCEEDED).count() == 4

    assert queries() == before
