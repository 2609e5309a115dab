"""The one interface of metric storage: write a scrape's samples, read one metric's
series for a chart, drop what is older than the retention.

Both backends answer reads the same way: at most MAX_SERIES series of at most
MAX_POINTS points, one point per ``step`` seconds (the step grows with the span
asked for, so a week is as cheap to draw as an hour). A point's time is the last
sample's in its step; its value that sample's for counters (monotonic: the last is
the largest, barring a reset) and the mean of the step's samples for the rest."""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from telemetry.samples import InstanceRef, Sample

MAX_SERIES = 250
MAX_POINTS = 240  # per series; MAX_SERIES * MAX_POINTS stays under Elasticsearch's bucket limit
# Sample names a family named N exposes (histogram, summary, counter, gauge histogram).
FAMILY_SUFFIXES = ("", "_total", "_bucket", "_count", "_sum", "_created", "_gcount", "_gsum")
_MONOTONIC_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]  # the sample's labels with __name__, the sample's name
    points: list[tuple[float, float]]  # (unix seconds, value), oldest first


@dataclass(frozen=True)
class Batch:
    """The samples of one instance (one target's scrape, or several)."""

    instance_id: int
    instance: InstanceRef
    samples: Sequence[Sample]


class MetricsStore(ABC):
    def samples_store(
        self, *, instance_id: int, instance: InstanceRef, samples: Sequence[Sample]
    ) -> int:
        """Store one instance's ``samples``; returns how many were stored."""
        return self.batches_store(batches=[Batch(instance_id, instance, samples)])

    @abstractmethod
    def batches_store(self, *, batches: Sequence[Batch]) -> int:
        """Store the samples of several instances at once, as few requests as the
        backend allows (non-finite values are skipped); returns how many."""

    @abstractmethod
    def series_read(
        self, *, instance_id: int, instance: InstanceRef, name: str, since: float, until: float
    ) -> list[Series]:
        """The series of metric ``name`` (a sample name, or a family name standing for
        its samples) between the two unix times, as the module docstring says."""

    @abstractmethod
    def prune(self, *, now: float) -> int:
        """Drop what is older than the retention (and downsample, where the backend
        does); returns how many points or indexes went."""


def series_key(name: str, labels: dict[str, str]) -> str:
    """A digest naming one series: the same name and labels give the same key."""
    text = json.dumps([name, sorted(labels.items())], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def query_names(name: str) -> list[str]:
    return [name + suffix for suffix in FAMILY_SUFFIXES]


def step_seconds(since: float, until: float) -> int:
    return max(1, math.ceil((until - since) / MAX_POINTS))


def is_monotonic(name: str, type_: str) -> bool:
    return type_ == "counter" or name.endswith(_MONOTONIC_SUFFIXES)


def storable(sample: Sample) -> bool:
    # NaN and infinities have no JSON form and no place on a chart.
    return math.isfinite(sample.value)
