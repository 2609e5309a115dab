from django.urls import path

from market import api

urlpatterns = [
    path("markets/", api.MarketListView.as_view(), name="api-markets"),
    path("markets/<slug:market>/sync/", api.MarketSyncView.as_view(), name="api-market-sync"),
    path(
        "markets/<slug:market>/packages/",
        api.PackagePublishView.as_view(),
        name="api-market-publish",
    ),
    path("apps/", api.AppListView.as_view(), name="api-apps"),
    path(
        "markets/<slug:market>/apps/<slug:name>/",
        api.AppDetailView.as_view(),
        name="api-app",
    ),
    path(
        "markets/<slug:market>/apps/<slug:name>/versions/<str:version>/",
        api.VersionDetailView.as_view(),
        name="api-app-version",
    ),
    path(
        "markets/<slug:market>/apps/<slug:name>/versions/<str:version>/yank/",
        api.VersionYankView.as_view(),
        name="api-app-version-yank",
    ),
    path(
        "markets/<slug:market>/apps/<slug:name>/advisories/",
        api.AdvisoryListView.as_view(),
        name="api-app-advisories",
    ),
    path(
        "markets/<slug:market>/apps/<slug:name>/advisories/<str:advisory>/",
        api.AdvisoryDetailView.as_view(),
        name="api-app-advisory",
    ),
]
