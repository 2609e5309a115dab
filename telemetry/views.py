"""The Metrics tab of the instance page (SPEC section 10): its targets' health and
the controls of the charts, loaded into the tab when it is first shown. The chart
data comes from the metrics API (telemetry.api), which the page's script asks with
the signed-in session: one reading of the series, with the instance's permissions."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from deployments.selectors.instances import instance_get
from deployments.selectors.live_pages import is_on_cluster
from telemetry.selectors import DEFAULT_SINCE_SECONDS, chart_windows, instance_metrics_overview

TARGET_COLUMNS = [
    {"key": "address", "label": "Address", "kind": "code"},
    {"key": "pod", "label": "Pod"},
    {"key": "health", "label": "Health", "kind": "status"},
    {"key": "last_scrape", "label": "Last scrape", "kind": "datetime"},
    {"key": "last_error", "label": "Last error"},
]


@login_required
@require_safe
def instance_metrics_tab_view(request: HttpRequest, namespace: str, name: str) -> HttpResponse:
    instance = instance_get(user=request.user, namespace=namespace, name=name)
    on_cluster = is_on_cluster(instance)
    overview = instance_metrics_overview(instance=instance) if on_cluster else None
    context = {
        "instance": instance,
        "on_cluster": on_cluster,
        "targets": overview.targets if overview else [],
        "names": overview.names if overview else [],
        "target_columns": TARGET_COLUMNS,
        "windows": chart_windows(retention_hours=settings.METRICS_RETENTION_HOURS),
        "default_since": DEFAULT_SINCE_SECONDS,
        "interval": settings.METRICS_SCRAPE_INTERVAL_SECONDS,
    }
    return render(request, "telemetry/_metrics_tab.html", context)
