"""Reads of instance metrics for the API and pages (SPEC section 10). The caller has
fetched the instance through the permission helper (instance_get)."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

from deployments.models import Instance
from portal.services.errors import Invalid, Unavailable
from telemetry.models import ScrapeTarget
from telemetry.samples import InstanceRef
from telemetry.storage import Series, metrics_store
from telemetry.storage.base import step_seconds

log = logging.getLogger(__name__)

# The Prometheus metric name syntax.
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,199}")
DEFAULT_SINCE_SECONDS = 3600


# The windows the instance page's Metrics tab offers, longest last.
CHART_WINDOWS = ((900, "15 min"), (3600, "1 h"), (6 * 3600, "6 h"), (24 * 3600, "24 h"))


@dataclass(frozen=True)
class ChartWindow:
    seconds: int
    label: str
    # The storage's step for this window: the page puts each series' points on
    # this grid, so that series scraped a few seconds apart share their x values.
    step: int


def chart_windows(*, retention_hours: int) -> list[ChartWindow]:
    """The Metrics tab's windows that fit in the retention (the shortest always)."""
    limit = retention_hours * 3600
    return [
        ChartWindow(seconds=seconds, label=label, step=step_seconds(0, seconds))
        for seconds, label in CHART_WINDOWS
        if seconds <= limit or seconds == CHART_WINDOWS[0][0]
    ]


@dataclass(frozen=True)
class MetricsOverview:
    targets: list[ScrapeTarget]
    names: list[str]


def instance_metrics_overview(*, instance: Instance) -> MetricsOverview:
    """The instance's scrape targets and the metric family names its exporters
    declared in their latest good scrape."""
    targets = list(ScrapeTarget.objects.filter(instance=instance).order_by("pod", "address"))
    names = sorted({name for target in targets for name in target.names})
    return MetricsOverview(targets=targets, names=names)


def since_parse(raw: str | None, *, retention_hours: int) -> int:
    """``since`` in seconds: a whole number from 1 to the retention; Invalid otherwise."""
    if raw is None or raw == "":
        return DEFAULT_SINCE_SECONDS
    limit = retention_hours * 3600
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= limit:
        raise Invalid(f"since must be a number of seconds from 1 to {limit}.")
    return int(raw)


def instance_metric_series(
    *, instance: Instance, name: str, since_seconds: int, now: float | None = None
) -> list[Series]:
    """The series of one metric of the instance over the last ``since_seconds``,
    sorted by labels. Invalid for a name that is no metric name, Unavailable when
    the storage does not answer."""
    if not METRIC_NAME.fullmatch(name):
        raise Invalid("name must be a metric name such as http_requests_total.")
    until = time.time() if now is None else now
    ref = InstanceRef(
        namespace=instance.namespace.name,
        name=instance.name,
        app=instance.app_name,
        version=instance.version,
    )
    try:
        series = metrics_store().series_read(
            instance_id=instance.pk,
            instance=ref,
            name=name,
            since=until - since_seconds,
            until=until,
        )
    except Exception as exc:  # the storage backend is down or refuses: not a bug here
        log.warning("reading metric %s of %s failed", name, instance, exc_info=True)
        raise Unavailable(f"The metrics storage did not answer ({type(exc).__name__}).") from None
    return sorted(series, key=lambda s: sorted(s.labels.items()))
