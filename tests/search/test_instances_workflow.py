"""Instances are searchable in the state their last operation committed."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.models import Instance
from deployments.services.instances import instance_install, instance_uninstall
from portal.actors import Actor
from search.backends.base import SearchQuery
from search.services.query import search_run
from tests.factories import make_user
from tests.search.helpers import refresh

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def instance_hits(user: Any, q: str, **filters: str) -> list[tuple[str, str]]:
    results = search_run(user=user, query=SearchQuery(q=q, type="instance", filters=filters))
    assert results.degraded is False
    return [(hit.title, hit.meta.get("status", "")) for hit in results.hits]


def test_an_instances_new_status_is_searchable_right_after_its_operation_commits(
    search_es,
    eager_tasks,
    gitops_repo,
    apps_market,
    namespace,
    operator,
):
    requested = instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        market=apps_market,
        name="shop",
        app="web-app",
        version="1.0.0",
        values={"replicas": 3, "apiKey": "s3cr3t-key"},
    )
    refresh(search_es)

    assert Instance.objects.get(pk=requested.instance.pk).status == "deployed"
    assert ("shop in pay-prod", "deployed") in instance_hits(operator, "shop")
    assert instance_hits(operator, "apiKey")[0] == ("shop in pay-prod", "deployed")
    assert instance_hits(operator, "s3cr3t-key") == []
    assert instance_hits(make_user("outsider"), "shop") == []

    instance_uninstall(actor=Actor(user=operator), instance=Instance.objects.get(name="shop"))
    refresh(search_es)

    assert instance_hits(operator, "shop", status="uninstalled") == [
        ("shop in pay-prod", "uninstalled")
    ]
