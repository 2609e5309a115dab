"""Discovery of one instance when an operation on it ends (the workflow engine queues
it after the final state commits): an instance no longer deployed loses its targets,
a cluster that cannot be listed leaves them as they were, and nothing is queued for
instances outside Kubernetes. The round trip through a real cluster is in
test_end_to_end.py."""

from __future__ import annotations

import pytest

from deployments.models import DeployTarget, Namespace
from telemetry.discovery import (
    DiscoveryFailed,
    instance_targets_discover,
    instance_targets_discover_later,
)
from telemetry.models import ScrapeTarget
from tests.telemetry.conftest import cluster_row, deployed, kube_namespace, scrape_target

pytestmark = [pytest.mark.django_db]


@pytest.mark.parametrize("status", ["uninstalled", "failed"])
def test_an_instance_no_longer_deployed_loses_its_targets(team, status):
    # The cluster row points nowhere: an instance that is not scraped asks no cluster.
    web = deployed(kube_namespace(team, cluster_row(), "pay-prod"))
    other = deployed(web.namespace, "other")
    scrape_target(web, health="up")
    scrape_target(other, health="up")
    web.status = status
    web.save(update_fields=["status"])

    assert instance_targets_discover(instance=web) == 0

    assert not ScrapeTarget.objects.filter(instance=web).exists()
    assert ScrapeTarget.objects.filter(instance=other).exists()  # not its business


def test_a_cluster_that_cannot_be_listed_leaves_the_targets_as_they_were(team, settings):
    settings.CLUSTER_TIMEOUT_SECONDS = 2
    web = deployed(kube_namespace(team, cluster_row(), "pay-prod"))  # port 1: refused
    row = scrape_target(web, health="up")

    with pytest.raises(DiscoveryFailed):
        instance_targets_discover(instance=web)

    row.refresh_from_db()
    assert (row.health, row.url) == ("up", "http://10.1.2.3:9100/metrics")


def test_discovery_is_queued_only_once_the_transaction_commits(
    team, django_capture_on_commit_callbacks
):
    web = deployed(kube_namespace(team, cluster_row(), "pay-prod"))
    gitops = deployed(Namespace.objects.create(team=team, name="pay-git"), "web")
    assert gitops.namespace.target == DeployTarget.GITOPS

    with django_capture_on_commit_callbacks(execute=False) as queued:
        instance_targets_discover_later(instance=web)
        instance_targets_discover_later(instance=gitops)  # no pods to find there

    assert len(queued) == 1
