"""`/instances/...`: installed apps in the browser, the UI twin of
deployments.api.instances. Thin views over the same workflow services and selectors:
an instance the user may not see answers 404, a change they may not make 403,
any other refusal is shown in the service's own words."""

from deployments.views.actions import (
    instance_repair_view,
    instance_rollback_view,
    instance_uninstall_view,
)
from deployments.views.clusters import cluster_add_view, cluster_list_view
from deployments.views.detail import (
    instance_detail_view,
    operation_steps_view,
    revision_diff_view,
    rollback_changes_view,
)
from deployments.views.install import instance_install_check_view, instance_install_view
from deployments.views.listing import instance_list_view, namespace_create_view
from deployments.views.upgrade import instance_upgrade_view

__all__ = [
    "cluster_add_view",
    "cluster_list_view",
    "instance_detail_view",
    "instance_install_check_view",
    "instance_install_view",
    "instance_list_view",
    "instance_repair_view",
    "instance_rollback_view",
    "instance_uninstall_view",
    "instance_upgrade_view",
    "namespace_create_view",
    "operation_steps_view",
    "revision_diff_view",
    "rollback_changes_view",
]
