"""What the home page and the catalogue show of the instances a user may see:
counts by status, upgrades available, failed operations per day, and which apps
run where. Every read goes through the permission helper (a user sees their
teams' namespaces; staff see all) and costs a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from deployments.models import Instance, InstanceStatus, Operation, OperationState
from deployments.selectors.instances import TEAM, upgrade_available
from market.models import App
from market.selectors.installed import Installation
from portal.permissions import AnyUser, filter_visible

# The home chart's tone for each status, as the status badges colour them.
STATUS_TONES = {
    InstanceStatus.DEPLOYED: "success",
    InstanceStatus.INSTALLING: "info",
    InstanceStatus.UPGRADING: "info",
    InstanceStatus.UNINSTALLING: "info",
    InstanceStatus.FAILED: "danger",
}
FAILED_STATES = (OperationState.FAILED, OperationState.ROLLED_BACK)

# Drawing units of the two small charts (SVG viewBoxes the browser scales).
CHART_WIDTH = 420
BAR_LABEL_WIDTH = 96
BAR_WIDTH = CHART_WIDTH
BAR_ROW = 22
DAY_WIDTH = CHART_WIDTH
DAY_TOP = 16  # room above the tallest column for its count
DAY_PLOT = 64
DAY_HEIGHT = DAY_TOP + DAY_PLOT + 22


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int
    tone: str
    width: float  # the bar, in chart units
    y: int

    @property
    def bar_y(self) -> int:
        return self.y + 5

    @property
    def text_y(self) -> int:
        return self.y + 15

    @property
    def count_x(self) -> float:
        return BAR_LABEL_WIDTH + self.width + 4


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int
    x: float
    width: float
    height: float
    y: float

    @property
    def center(self) -> float:
        return round(self.x + self.width / 2, 2)

    @property
    def count_y(self) -> float:
        return round(self.y - 3, 2)


@dataclass
class Overview:
    instances: int
    by_status: list[StatusCount]
    upgrades: int
    failed: int
    days: int
    by_day: list[DayCount]

    @property
    def status_chart_height(self) -> int:
        return max(len(self.by_status), 1) * BAR_ROW

    @property
    def bar_x(self) -> int:
        return BAR_LABEL_WIDTH

    @property
    def chart_width(self) -> int:
        return CHART_WIDTH

    @property
    def day_chart_height(self) -> int:
        return DAY_HEIGHT

    @property
    def day_label_y(self) -> int:
        return DAY_TOP + DAY_PLOT + 16

    @property
    def baseline_y(self) -> int:
        return DAY_TOP + DAY_PLOT


def _status_counts(rows: dict[str, int]) -> list[StatusCount]:
    """Every status but `uninstalled` (history, not running), zeros included, so the
    chart always has the same rows in the same order."""
    shown = [s for s in InstanceStatus if s != InstanceStatus.UNINSTALLED]
    top = max([rows.get(s, 0) for s in shown] + [1])
    plot = BAR_WIDTH - BAR_LABEL_WIDTH - 28  # room for the count after the bar
    return [
        StatusCount(
            status=status,
            label=status.replace("_", " ").capitalize(),
            count=rows.get(status, 0),
            tone=STATUS_TONES.get(status, "neutral"),
            width=round(plot * rows.get(status, 0) / top, 2),
            y=index * BAR_ROW,
        )
        for index, status in enumerate(shown)
    ]


def _day_counts(rows: dict[date, int], *, today: date, days: int) -> list[DayCount]:
    top = max([*rows.values(), 1])
    slot = DAY_WIDTH / days
    result = []
    for index in range(days):
        day = today - timedelta(days=days - 1 - index)
        count = rows.get(day, 0)
        height = round(DAY_PLOT * count / top, 2)
        result.append(
            DayCount(
                day=day,
                count=count,
                x=round(index * slot + slot * 0.2, 2),
                width=round(slot * 0.6, 2),
                height=height,
                y=round(DAY_TOP + DAY_PLOT - height, 2),
            )
        )
    return result


def instance_overview(*, user: AnyUser, days: int = 7, now: datetime | None = None) -> Overview:
    """Counts for the home page, in three queries.

    Steps: count visible instances by status; read each visible instance's version
    with its app's latest (one query with a subquery) and compare them as SemVer;
    count failed or rolled-back operations per day over the last ``days`` days."""
    now = now or timezone.now()
    visible = filter_visible(user, Instance.objects.all(), team_field=TEAM)
    by_status = dict(
        visible.order_by()
        .values_list("status")
        .annotate(count=Count("pk"))
        .values_list("status", "count")
    )
    latest = App.objects.filter(market=OuterRef("market"), name=OuterRef("app_name")).values(
        "latest"
    )[:1]
    versions = (
        visible.exclude(status=InstanceStatus.UNINSTALLED)
        .annotate(latest_version=Subquery(latest))
        .values_list("version", "latest_version")
    )
    upgrades = sum(1 for version, newest in versions if upgrade_available(version, newest))
    today = timezone.localdate(now)
    since = timezone.make_aware(datetime.combine(today - timedelta(days=days - 1), time.min))
    failed = (
        filter_visible(
            user,
            Operation.objects.filter(state__in=FAILED_STATES, finished_at__gte=since),
            team_field="instance__namespace__team",
        )
        .annotate(day=TruncDate("finished_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day")
        .annotate(count=Count("pk"))
    )
    per_day = {row["day"]: row["count"] for row in failed}
    return Overview(
        instances=sum(n for s, n in by_status.items() if s != InstanceStatus.UNINSTALLED),
        by_status=_status_counts(by_status),
        upgrades=upgrades,
        failed=sum(per_day.values()),
        days=days,
        by_day=_day_counts(per_day, today=today, days=days),
    )


def installations_by_app(*, user: AnyUser, names: list[str]) -> dict[str, list[Installation]]:
    """The instances of each named app the user may see (uninstalled ones left out),
    in one query: the catalogue's "installed" marks."""
    found: dict[str, list[Installation]] = {}
    if not names:
        return found
    rows = (
        filter_visible(
            user, Instance.objects.select_related("namespace", "market"), team_field=TEAM
        )
        .filter(app_name__in=names)
        .exclude(status=InstanceStatus.UNINSTALLED)
        .order_by("namespace__name", "name")
    )
    for row in rows:
        found.setdefault(row.app_name, []).append(
            Installation(
                namespace=row.namespace.name,
                name=row.name,
                version=row.version,
                market=row.market.name,
                status=row.status,
                url=reverse("instance-detail", args=[row.namespace.name, row.name]),
            )
        )
    return found
