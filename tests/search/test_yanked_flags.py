"""Yanked versions and advisories in site search (SPEC 14): apps and instances carry
the flags on both backends, hits show them, and on Elasticsearch the words find them."""

from __future__ import annotations

from typing import Any

import pytest

from deployments.models import Instance
from market.models import AppVersion
from market.services.yank import advisory_add, version_yank
from portal.actors import Actor
from portal.models import Role
from search.backends.base import SearchQuery
from search.services.query import search_run
from tests.factories import make_namespace, make_team, make_user
from tests.search.helpers import index_everything, make_app, make_instance, make_market, refresh

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

REASON = "Loses queued alerts on restart."
ADVISORY = {
    "id": "OMSA-2026-013",
    "severity": "high",
    "affected": "<1.2.0",
    "fixed": "1.2.0",
    "summary": "Webhook secrets in the debug log.",
}


def hits(user: Any, q: str, **kw: Any) -> dict[str, dict[str, str]]:
    results = search_run(user=user, query=SearchQuery(q=q, **kw))
    assert results.degraded is False
    return {hit.title: hit.meta for hit in results.hits}


def flagged_rows() -> Any:
    market = make_market()
    app = make_app(market, "alert-router", advisories=[ADVISORY])
    AppVersion.objects.filter(app=app, version="1.0.0").update(yanked=REASON)
    make_app(market, "cert-watcher")
    user = make_user("ana")
    ns = make_namespace(make_team("ops", members={user: Role.VIEWER}), "prod")
    make_instance(ns, "alerts", market=market, app_name="alert-router")
    make_instance(ns, "certs", market=market, app_name="cert-watcher")
    return user


@pytest.mark.parametrize("backend", ["search_db", "search_es"])
def test_instances_and_apps_carry_their_flags_on_both_backends(
    backend: str, request: pytest.FixtureRequest
) -> None:
    client = request.getfixturevalue(backend)
    user = flagged_rows()
    if backend == "search_es":
        index_everything(client)

    instances = hits(user, "alerts", type="instance")
    clean = hits(user, "certs", type="instance")
    apps = hits(user, "alert-router", type="app")

    meta = instances["alerts in prod"]
    assert (meta["yanked"], meta["advisory"], meta["advisories"]) == (
        REASON,
        "high",
        "OMSA-2026-013",
    )
    assert not any(clean["certs in prod"].get(k) for k in ("yanked", "advisory", "advisories"))
    assert apps["Alert Router"]["advisory"] == "high"
    assert apps["Alert Router"]["advisories"] == "OMSA-2026-013"


def test_the_search_page_and_api_show_the_badges(search_db: Any, client: Any, api_client: Any):
    user = flagged_rows()
    client.force_login(user)
    api_client.force_authenticate(user)

    page = client.get("/search/?q=alerts&type=instance").content.decode()
    body = api_client.get("/api/v1/search/?q=alerts&type=instance").json()

    assert 'data-flag="yanked"' in page and f'title="Yanked: {REASON}"' in page
    assert "Advisory OMSA-2026-013" in page
    assert body["results"][0]["yanked"] == REASON
    assert body["results"][0]["advisories"] == "OMSA-2026-013"


def test_elasticsearch_finds_instances_by_yanked_advisory_and_its_id(search_es: Any) -> None:
    user = flagged_rows()
    index_everything(search_es)

    assert list(hits(user, "yanked", type="instance")) == ["alerts in prod"]
    assert list(hits(user, "advisory", type="instance")) == ["alerts in prod"]
    assert list(hits(user, "OMSA-2026-013", type="instance")) == ["alerts in prod"]
    assert list(hits(user, "queued alerts restart", type="instance")) == ["alerts in prod"]
    assert hits(make_user("outsider"), "yanked", type="instance") == {}


def test_a_yank_reindexes_the_instances_running_the_app(
    search_es: Any, eager_tasks: None, apps_market: Any, namespace: Any, operator: Any
) -> None:
    Instance.objects.create(
        namespace=namespace,
        name="shop",
        market=apps_market,
        app_name="web-app",
        version="1.0.0",
        status="deployed",
    )
    index_everything(search_es)
    assert hits(operator, "yanked", type="instance") == {}

    version_yank(
        actor=Actor.system(), market=apps_market, app="web-app", version="1.0.0", reason=REASON
    )
    advisory_add(actor=Actor.system(), market=apps_market, app="web-app", advisory=ADVISORY)
    refresh(search_es)

    found = hits(operator, "yanked", type="instance")
    assert list(found) == ["shop in pay-prod"]
    assert found["shop in pay-prod"]["advisories"] == "OMSA-2026-013"
