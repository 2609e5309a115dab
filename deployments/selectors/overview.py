"""What the home page and the catalogue show of the instances a user may see:
counts by status and by health, upgrades available, operations per day with their
failure rate, and which apps run where. Every read goes through the permission
helper (a user sees their teams' namespaces; staff see all) and costs a fixed
number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone

from deployments.models import (
    DeployTarget,
    Instance,
    InstanceStatus,
    LiveHealth,
    Operation,
    OperationState,
)
from deployments.selectors.instances import TEAM, upgrade_available
from market.models import App, Market
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
FINISHED_STATES = (OperationState.SUCCEEDED, *FAILED_STATES)
OVERVIEW_DAYS = 14

# The home "by health" chart: a deployed instance counts by what the cluster last
# said of it (SPEC section 9); one whose health is not known (GitOps, not looked at
# yet, or "unknown") counts as "unknown"; the others by their status, which says
# more than a health reading taken mid-operation.
HEALTH_ROWS = (
    ("healthy", "Healthy", "success"),
    ("progressing", "Progressing", "info"),
    ("degraded", "Degraded", "warning"),
    ("unknown", "Unknown", "neutral"),
    (InstanceStatus.INSTALLING.value, "Installing", "info"),
    (InstanceStatus.UPGRADING.value, "Upgrading", "info"),
    (InstanceStatus.UNINSTALLING.value, "Uninstalling", "info"),
    (InstanceStatus.FAILED.value, "Failed", "danger"),
)
KNOWN_HEALTH = (LiveHealth.HEALTHY, LiveHealth.PROGRESSING, LiveHealth.DEGRADED)

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


def failure_rate(failed: int, finished: int) -> float | None:
    """Failed over finished operations, in percent; None when nothing finished."""
    return round(100 * failed / finished, 1) if finished else None


@dataclass(frozen=True)
class DayCount:
    """One day's column: ``count`` operations requested that day, ``failed`` of
    them failed or rolled back; the column is ``height`` tall, its failed part
    ``failed_height`` at the bottom."""

    day: date
    count: int
    failed: int
    finished: int
    x: float
    width: float
    height: float
    y: float
    failed_height: float

    @property
    def failure_rate(self) -> float | None:
        return failure_rate(self.failed, self.finished)

    @property
    def rate_text(self) -> str:
        rate = self.failure_rate
        return "—" if rate is None else f"{rate:g}%"

    @property
    def failed_y(self) -> float:
        return round(self.y + self.height - self.failed_height, 2)

    @property
    def ok_height(self) -> float:
        return round(self.height - self.failed_height, 2)

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
    by_health: list[StatusCount]
    upgrades: int
    operations: int  # requested in the last ``days`` days
    failed: int  # of them, failed or rolled back
    finished: int  # of them, finished
    days: int
    by_day: list[DayCount]

    @property
    def failure_rate(self) -> float | None:
        return failure_rate(self.failed, self.finished)

    @property
    def health_chart_height(self) -> int:
        return max(len(self.by_health), 1) * BAR_ROW

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


def _bars(rows: dict[str, int], shown: list[tuple[str, str, str]]) -> list[StatusCount]:
    """One bar per (key, label, tone) of ``shown``, zeros included, so a chart always
    has the same rows in the same order."""
    top = max([rows.get(key, 0) for key, _, _ in shown] + [1])
    plot = BAR_WIDTH - BAR_LABEL_WIDTH - 28  # room for the count after the bar
    return [
        StatusCount(
            status=key,
            label=label,
            count=rows.get(key, 0),
            tone=tone,
            width=round(plot * rows.get(key, 0) / top, 2),
            y=index * BAR_ROW,
        )
        for index, (key, label, tone) in enumerate(shown)
    ]


def _status_counts(rows: dict[str, int]) -> list[StatusCount]:
    """Every status but `uninstalled` (history, not running)."""
    shown = [
        (s.value, s.replace("_", " ").capitalize(), STATUS_TONES.get(s, "neutral"))
        for s in InstanceStatus
        if s != InstanceStatus.UNINSTALLED
    ]
    return _bars(rows, shown)


def _health_key(status: str, live_health: str, target: str) -> str | None:
    if status == InstanceStatus.UNINSTALLED:
        return None
    if status != InstanceStatus.DEPLOYED:
        return status
    if target == DeployTarget.KUBERNETES and live_health in KNOWN_HEALTH:
        return live_health
    return "unknown"


def _day_counts(
    rows: dict[date, tuple[int, int, int]], *, today: date, days: int
) -> list[DayCount]:
    """``rows``: (operations, failed, finished) per day."""
    top = max([total for total, _, _ in rows.values()] + [1])
    slot = DAY_WIDTH / days
    result = []
    for index in range(days):
        day = today - timedelta(days=days - 1 - index)
        count, failed, finished = rows.get(day, (0, 0, 0))
        height = round(DAY_PLOT * count / top, 2)
        result.append(
            DayCount(
                day=day,
                count=count,
                failed=failed,
                finished=finished,
                x=round(index * slot + slot * 0.15, 2),
                width=round(slot * 0.7, 2),
                height=height,
                y=round(DAY_TOP + DAY_PLOT - height, 2),
                failed_height=round(DAY_PLOT * failed / top, 2),
            )
        )
    return result


def instance_overview(
    *, user: AnyUser, days: int = OVERVIEW_DAYS, now: datetime | None = None
) -> Overview:
    """Counts for the home page, in three queries.

    Steps: count visible instances by (status, live health, target) and add them up
    by status and by health; read each visible instance's version with its app's
    latest (one query with a subquery) and compare them as SemVer; count the
    operations requested per day over the last ``days`` days, with how many of
    them finished and how many failed (or were rolled back)."""
    now = now or timezone.now()
    visible = filter_visible(user, Instance.objects.all(), team_field=TEAM)
    by_status: dict[str, int] = {}
    by_health: dict[str, int] = {}
    for status, live_health, target, count in (
        visible.order_by()
        .values_list("status", "live_health", "namespace__target")
        .annotate(count=Count("pk"))
        .values_list("status", "live_health", "namespace__target", "count")
    ):
        by_status[status] = by_status.get(status, 0) + count
        key = _health_key(status, live_health, target)
        if key is not None:
            by_health[key] = by_health.get(key, 0) + count
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
    per_day = {
        row["day"]: (row["total"], row["failed"], row["finished"])
        for row in filter_visible(
            user,
            Operation.objects.filter(created_at__gte=since),
            team_field="instance__namespace__team",
        )
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .order_by()
        .values("day")
        .annotate(
            total=Count("pk"),
            failed=Count("pk", filter=Q(state__in=FAILED_STATES)),
            finished=Count("pk", filter=Q(state__in=FINISHED_STATES)),
        )
    }
    return Overview(
        instances=sum(n for s, n in by_status.items() if s != InstanceStatus.UNINSTALLED),
        by_status=_status_counts(by_status),
        by_health=_bars(by_health, list(HEALTH_ROWS)),
        upgrades=upgrades,
        operations=sum(total for total, _, _ in per_day.values()),
        failed=sum(failed for _, failed, _ in per_day.values()),
        finished=sum(finished for _, _, finished in per_day.values()),
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


def instance_ids_of_apps(*, market: Market | int, names: list[str]) -> list[int]:
    """Ids of every instance of ``names`` from ``market`` (any state, any team): what
    the catalogue's sync reindexes when a version's flags change."""
    return list(
        Instance.objects.filter(market=market, app_name__in=names).values_list("pk", flat=True)
    )
