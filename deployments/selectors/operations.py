"""How far an operation has got, for the instance page's live card: steps done of
all, time elapsed, each step's span on a small time chart, and the dependency
installs it caused. Pure arithmetic over rows already loaded: the page and its
polled partial read an operation with its steps (and its dependencies' steps) in a
fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch
from django.utils import timezone

from deployments.models import Operation, OperationStep, StepState

# The chart's drawing units (an SVG viewBox; the browser scales it to the card).
CHART_WIDTH = 300
CHART_LABEL_WIDTH = 72
CHART_ROW_HEIGHT = 18
CHART_BAR_HEIGHT = 10
CHART_AXIS_HEIGHT = 14
# A step of a few milliseconds still shows as a sliver.
CHART_MIN_BAR = 1.5

STEP_TONES = {
    StepState.RUNNING: "info",
    StepState.SUCCEEDED: "success",
    StepState.FAILED: "danger",
    StepState.SKIPPED: "neutral",
}


@dataclass(frozen=True)
class ChartBar:
    """One step on the chart: where its bar starts and how wide it is, in chart units."""

    name: str
    state: str
    tone: str
    seconds: float | None
    x: float
    width: float
    y: float
    text_y: float


@dataclass
class Progress:
    done: int
    total: int
    # Seconds since the operation started (or was queued), up to its end.
    elapsed: float
    started: bool
    current_step: str
    bars: list[ChartBar] = field(default_factory=list)
    span: float = 0.0

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def chart_height(self) -> int:
        return len(self.bars) * CHART_ROW_HEIGHT + CHART_AXIS_HEIGHT

    @property
    def axis_y(self) -> int:
        return len(self.bars) * CHART_ROW_HEIGHT + CHART_AXIS_HEIGHT - 3

    @property
    def chart_width(self) -> int:
        return CHART_WIDTH

    @property
    def plot_x(self) -> int:
        return CHART_LABEL_WIDTH

    @property
    def plot_end(self) -> int:
        return CHART_WIDTH - 4

    @property
    def plot_width(self) -> int:
        return CHART_WIDTH - 4 - CHART_LABEL_WIDTH


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def operation_progress(operation: Operation, *, now: datetime | None = None) -> Progress:
    """Steps done of all, the time elapsed and the chart of ``operation``, from its
    prefetched steps.

    Steps: count the succeeded steps; measure from the start (the creation while
    still queued) to the end (now while active); place each step that started
    on that time axis, a running one up to now."""
    now = now or timezone.now()
    steps: list[OperationStep] = list(operation.steps.all())
    end = operation.finished_at if not operation.is_active and operation.finished_at else now
    origin = operation.started_at or operation.created_at
    elapsed = _seconds(origin, end) or 0.0
    started_steps = [s for s in steps if s.started_at is not None]
    span = max(
        [elapsed]
        + [
            _seconds(origin, s.finished_at or end) or 0.0
            for s in started_steps
            if s.started_at and origin
        ]
    )
    plot_width = CHART_WIDTH - 4 - CHART_LABEL_WIDTH
    # Every step lies between the origin and the end, so the axis spans those.
    scale = plot_width / span if span > 0 else 0.0
    bars = []
    for row, step in enumerate(started_steps):
        finish = step.finished_at or (end if step.state == StepState.RUNNING else step.started_at)
        offset = _seconds(origin, step.started_at) or 0.0
        seconds = _seconds(step.started_at, finish)
        width = max((seconds or 0.0) * scale, CHART_MIN_BAR)
        x = min(CHART_LABEL_WIDTH + offset * scale, CHART_WIDTH - 4 - width)
        bars.append(
            ChartBar(
                name=step.name,
                state=step.state,
                tone=STEP_TONES.get(step.state, "neutral"),  # type: ignore[call-overload]
                seconds=seconds,
                x=round(x, 2),
                width=round(width, 2),
                y=row * CHART_ROW_HEIGHT + (CHART_ROW_HEIGHT - CHART_BAR_HEIGHT) / 2,
                text_y=row * CHART_ROW_HEIGHT + CHART_ROW_HEIGHT / 2 + 4,
            )
        )
    current = next((s.name for s in steps if s.state == StepState.RUNNING), "")
    return Progress(
        done=sum(1 for s in steps if s.state == StepState.SUCCEEDED),
        total=len(steps),
        elapsed=elapsed,
        started=operation.started_at is not None,
        current_step=current,
        bars=bars,
        span=span,
    )


def operation_caused(operation: Operation) -> list[Operation]:
    """The dependency installs ``operation`` caused, in the order they run, each
    with its instance and steps loaded (two queries for all of them)."""
    return list(
        operation.caused.select_related("instance", "instance__namespace")
        .prefetch_related(Prefetch("steps", queryset=OperationStep.objects.order_by("position")))
        .order_by("created_at")
    )


@dataclass
class OperationCard:
    """What the instance page's live card shows of one operation."""

    operation: Operation
    progress: Progress
    dependencies: list[tuple[Operation, Progress]]


def operation_card(operation: Operation, *, now: datetime | None = None) -> OperationCard:
    now = now or timezone.now()
    return OperationCard(
        operation=operation,
        progress=operation_progress(operation, now=now),
        dependencies=[
            (dep, operation_progress(dep, now=now)) for dep in operation_caused(operation)
        ],
    )
