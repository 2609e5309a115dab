"""Reads of the merged catalogue. Each returns a queryset whose page costs a
fixed number of queries, whatever the catalogue size."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from market.models import App, AppVersion, Market

SORTS = {"name": ("name", "market__name"), "updated": ("-updated", "name")}


def catalogue_apps(
    *, q: str = "", category: str = "", market: str = "", sort: str = "name"
) -> QuerySet[App]:
    apps = App.objects.select_related("market").defer("readme")
    if q:
        words = q.split()[:8]
        for word in words:
            apps = apps.filter(
                Q(name__icontains=word)
                | Q(title__icontains=word)
                | Q(summary__icontains=word)
                | Q(keywords__icontains=word)
            )
    if category:
        apps = apps.filter(category=category)
    if market:
        apps = apps.filter(market__name=market)
    return apps.order_by(*SORTS.get(sort, SORTS["name"]))


def catalogue_categories() -> list[str]:
    return list(
        App.objects.exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def market_names() -> list[str]:
    return list(Market.objects.order_by("name").values_list("name", flat=True))


def app_get(*, market: str, name: str) -> App:
    app = (
        App.objects.select_related("market")
        .prefetch_related(
            Prefetch("versions", queryset=AppVersion.objects.order_by("-published", "-id")),
            "docs",
        )
        .filter(market__name=market, name=name)
        .first()
    )
    if app is None:
        raise Http404("No such app in that market.")
    return app


def app_version_get(*, market: str, name: str, version: str) -> AppVersion:
    row = (
        AppVersion.objects.select_related("app", "app__market")
        .filter(app__market__name=market, app__name=name, version=version)
        .first()
    )
    if row is None:
        raise Http404("No such version.")
    return row


def app_offers(*, name: str) -> QuerySet[App]:
    """Every market's offer of the app called `name`."""
    return App.objects.select_related("market").filter(name=name).order_by("market__name")
