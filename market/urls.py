"""Market URLs: the browser pages under /market/ and, under /markets/, the files of
the markets this portal holds (SPEC section 3)."""

from django.urls import path, re_path

from guards.slugs import SLUG_PATTERN
from market.views import browse, markets, publish, serve, yank

urlpatterns = [
    re_path(
        rf"^markets/(?P<market>{SLUG_PATTERN})/(?P<path>.+)$",
        serve.market_file,
        name="market-file",
    ),
    path("market/", browse.catalogue, name="market-catalogue"),
    path("market/publish/", publish.publish, name="market-publish"),
    path("market/markets/", markets.market_list_view, name="market-list"),
    path("market/markets/new/", markets.market_add_view, name="market-add"),
    path("market/markets/<slug:market>/sync/", markets.market_sync_view, name="market-sync"),
    path("market/<slug:market>/<slug:app>/", browse.app_detail, name="market-app"),
    path("market/<slug:market>/<slug:app>/icon", browse.app_icon, name="market-app-icon"),
    path(
        "market/<slug:market>/<slug:app>/versions/<str:version>/yank/",
        yank.version_yank_view,
        name="market-version-yank",
    ),
    path(
        "market/<slug:market>/<slug:app>/advisories/",
        yank.advisory_add_view,
        name="market-advisory-add",
    ),
    path(
        "market/<slug:market>/<slug:app>/advisories/<str:advisory>/remove/",
        yank.advisory_remove_view,
        name="market-advisory-remove",
    ),
    path(
        "market/<slug:market>/<slug:app>/docs/<path:slug>",
        browse.app_doc,
        name="market-app-doc",
    ),
]
