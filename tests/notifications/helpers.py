from __future__ import annotations

from typing import Any

from deployments.models import Instance, InstanceStatus, Namespace
from market.models import App, AppVersion, Market


def catalogue_app(market: Market, name: str, versions: list[str]) -> App:
    """Catalogue rows as a sync leaves them (no archive behind them: nothing installs)."""
    app = App.objects.create(market=market, name=name, title=name.title(), latest=versions[-1])
    for version in versions:
        AppVersion.objects.create(
            app=app, version=version, archive=f"{name}-{version}.tgz", digest="sha256:0", size=1
        )
    return app


def deployed(namespace: Namespace, market: Market, app: str, version: str, name: str = "") -> Any:
    """A deployed instance row (the workflow tests install for real; these need only rows)."""
    return Instance.objects.create(
        namespace=namespace,
        name=name or app,
        market=market,
        app_name=app,
        version=version,
        status=InstanceStatus.DEPLOYED,
    )
