"""Browser routes of instance metrics: the instance page's Metrics tab."""

from django.urls import path

from telemetry import views

urlpatterns = [
    path(
        "instances/<slug:namespace>/<slug:name>/metrics/",
        views.instance_metrics_tab_view,
        name="instance-metrics",
    ),
]
