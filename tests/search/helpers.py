"""Rows for search tests, made the way the portal makes them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from elasticsearch import Elasticsearch

from deployments.models import Instance, Namespace, Revision
from market.models import App, AppDoc, AppVersion, Market
from search.client import WRITE_TIMEOUT, es_client, indices_ensure
from search.services.indexing import kinds_fill


def make_market(name: str = "main", **extra: Any) -> Market:
    return Market.objects.create(name=name, location=f"/srv/markets/{name}", **extra)


def make_app(market: Market, name: str, *, title: str = "", summary: str = "", **extra: Any) -> App:
    app = App.objects.create(
        market=market,
        name=name,
        title=title or name.replace("-", " ").title(),
        summary=summary,
        latest=extra.pop("latest", "1.0.0"),
        updated=timezone.now(),
        **extra,
    )
    AppVersion.objects.create(
        app=app,
        version=app.latest,
        archive=f"{name}-{app.latest}.tgz",
        digest="sha256:" + "0" * 64,
        size=100,
        manifest={"maintainers": [{"name": "Lin Wei"}], "description": f"About {name}."},
    )
    return app


def make_doc(app: App, path: str, title: str, body: str) -> AppDoc:
    return AppDoc.objects.create(app=app, path=path, title=title, body=body)


MANIFESTS = {
    "templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}-server\n"
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}-svc\n"
    ),
    "templates/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-auth\n",
}


def make_instance(
    namespace: Namespace,
    name: str,
    *,
    market: Market,
    app_name: str,
    status: str = "deployed",
    values: dict[str, Any] | None = None,
) -> Instance:
    instance = Instance.objects.create(
        namespace=namespace,
        name=name,
        market=market,
        app_name=app_name,
        version="1.0.0",
        status=status,
    )
    revision = Revision.objects.create(
        instance=instance,
        number=1,
        app_version="1.0.0",
        archive_digest="sha256:" + "0" * 64,
        values_encrypted="x",
        values_masked=values or {},
        manifests_encrypted="x",
        manifests_masked={path: text.format(name=name) for path, text in MANIFESTS.items()},
        manifests_digest="sha256:" + "1" * 64,
    )
    Instance.objects.filter(pk=instance.pk).update(current_revision=revision)
    instance.refresh_from_db()
    return instance


def index_everything(client: Elasticsearch) -> None:
    """Create the test prefix's indexes and load every row, then make it searchable."""
    writer = es_client(timeout=WRITE_TIMEOUT)
    kinds_fill(writer, indices_ensure(writer))
    refresh(client)


def refresh(client: Elasticsearch) -> None:
    """Make what was just indexed searchable (the server does it each second)."""
    client.indices.refresh(index=f"{settings.SEARCH_INDEX_PREFIX}-*")
