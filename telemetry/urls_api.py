"""`/api/v1/` routes of instance metrics (SPEC section 10)."""

from django.urls import path

from telemetry import api

urlpatterns = [
    path(
        "namespaces/<slug:namespace>/instances/<slug:name>/metrics/",
        api.InstanceMetricsView.as_view(),
        name="api-instance-metrics",
    ),
]
