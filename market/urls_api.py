from django.urls import path

from market import api, api_instances

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
]

urlpatterns += [
    path("instances/", api_instances.InstanceListView.as_view(), name="api-instances"),
    path(
        "namespaces/<slug:namespace>/instances/",
        api_instances.NamespaceInstancesView.as_view(),
        name="api-namespace-instances",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/",
        api_instances.InstanceDetailView.as_view(),
        name="api-instance",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/upgrade/",
        api_instances.InstanceUpgradeView.as_view(),
        name="api-instance-upgrade",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/rollback/",
        api_instances.InstanceRollbackView.as_view(),
        name="api-instance-rollback",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/revisions/",
        api_instances.InstanceRevisionsView.as_view(),
        name="api-instance-revisions",
    ),
    path(
        "operations/<str:operation_id>/",
        api_instances.OperationDetailView.as_view(),
        name="api-operation",
    ),
]
