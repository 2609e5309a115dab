"""Browser pages of the deployments app: instances, their operations and revisions,
and the Kubernetes clusters."""

from django.urls import path

from deployments import views

urlpatterns = [
    path("clusters/", views.cluster_list_view, name="cluster-list"),
    path("clusters/new/", views.cluster_add_view, name="cluster-add"),
    path("instances/", views.instance_list_view, name="instance-list"),
    path("instances/new/", views.instance_install_view, name="instance-install"),
    path(
        "instances/new/check/",
        views.instance_install_check_view,
        name="instance-install-check",
    ),
    path(
        "instances/namespaces/new/",
        views.namespace_create_view,
        name="instance-namespace-create",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/",
        views.instance_detail_view,
        name="instance-detail",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/upgrade/",
        views.instance_upgrade_view,
        name="instance-upgrade",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/rollback/",
        views.instance_rollback_view,
        name="instance-rollback",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/rollback/changes/",
        views.rollback_changes_view,
        name="instance-rollback-changes",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/repair/",
        views.instance_repair_view,
        name="instance-repair",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/uninstall/",
        views.instance_uninstall_view,
        name="instance-uninstall",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/diff/",
        views.revision_diff_view,
        name="instance-diff",
    ),
    path(
        "instances/<slug:namespace>/<slug:name>/operations/<uuid:operation_id>/steps/",
        views.operation_steps_view,
        name="instance-operation-steps",
    ),
]
