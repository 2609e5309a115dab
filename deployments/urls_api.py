"""`/api/v1/` routes of the deployments app (SPEC sections 5 and 9): clusters,
namespaces, instances, their revisions and operations."""

from django.urls import path

from deployments.api import clusters as clusters_api
from deployments.api import instances
from deployments.api import namespaces as namespaces_api

urlpatterns = [
    path("clusters/", clusters_api.ClusterListView.as_view(), name="api-cluster-list"),
    path(
        "clusters/<str:cluster>/",
        clusters_api.ClusterDetailView.as_view(),
        name="api-cluster-detail",
    ),
    path("namespaces/", namespaces_api.NamespaceListView.as_view(), name="api-namespace-list"),
    path(
        "namespaces/<str:namespace>/",
        namespaces_api.NamespaceDetailView.as_view(),
        name="api-namespace-detail",
    ),
    path("instances/", instances.InstanceListView.as_view(), name="api-instances"),
    path(
        "namespaces/<slug:namespace>/instances/",
        instances.NamespaceInstancesView.as_view(),
        name="api-namespace-instances",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/",
        instances.InstanceDetailView.as_view(),
        name="api-instance",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/upgrade/",
        instances.InstanceUpgradeView.as_view(),
        name="api-instance-upgrade",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/rollback/",
        instances.InstanceRollbackView.as_view(),
        name="api-instance-rollback",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/resources/",
        instances.InstanceResourcesView.as_view(),
        name="api-instance-resources",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/repair/",
        instances.InstanceRepairView.as_view(),
        name="api-instance-repair",
    ),
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/revisions/",
        instances.InstanceRevisionsView.as_view(),
        name="api-instance-revisions",
    ),
    path(
        "operations/<str:operation_id>/",
        instances.OperationDetailView.as_view(),
        name="api-operation",
    ),
]
