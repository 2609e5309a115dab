"""Instance metrics (SPEC section 10): where each instance's exporters are, how their
last scrape went, -- for the database backend only -- the samples themselves, and
the Kafka stream's counters per producing process.

The Elasticsearch backend keeps samples in Elasticsearch (telemetry.storage.elastic);
the two sample tables below stay empty then."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from deployments.models import Instance


class TargetHealth(models.TextChoices):
    UNKNOWN = "unknown"  # found, not scraped yet
    UP = "up"
    DOWN = "down"


class ScrapeTarget(models.Model):
    """One exporter of one instance: a pod's address found by discovery
    (telemetry.discovery), and the findings of its latest scrape.

    Rows are written by discovery (which pods, which URL) and by the scrape round
    (health and the rest); discovery deletes the rows of pods that are gone."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="scrape_targets")
    pod = models.CharField(max_length=253)
    # host:port as shown to people; url is what is requested ("" when the pod's
    # annotations could not be read: last_error says why and nothing is scraped).
    address = models.CharField(max_length=300)
    url = models.CharField(max_length=600, blank=True)
    # How the pod was found: its own label, or a labelled Service selecting it.
    found_by = models.CharField(max_length=80)  # "pod" or "service:<name>"
    health = models.CharField(
        max_length=8, choices=TargetHealth.choices, default=TargetHealth.UNKNOWN
    )
    last_scrape = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_duration = models.FloatField(null=True, blank=True)  # seconds
    series = models.PositiveIntegerField(default=0)  # samples in the latest good scrape
    # Metric family names as the exporter declared them in its latest good scrape.
    names = models.JSONField(default=list, blank=True)
    discovered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["instance", "pod", "address"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "pod", "address"], name="scrape_target_unique_address"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance_id}:{self.pod}@{self.address}"


class MetricSeries(models.Model):
    """One series (a sample name and its labels) of one instance, database backend.
    ``key`` is a digest of name and labels, so a scrape finds its series by an
    index lookup rather than by comparing JSON."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=20)
    labels = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["instance", "key"], name="metric_series_unique_key")
        ]
        indexes = [models.Index(fields=["instance", "name"], name="metric_series_name")]

    def __str__(self) -> str:
        return f"{self.name}{self.labels}"


class MetricPoint(models.Model):
    """One value of a series at one time, database backend. ``coarse`` marks the
    point kept for its whole downsampling bucket (telemetry.storage.database)."""

    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="points")
    at = models.BigIntegerField()  # unix milliseconds
    value = models.FloatField()
    coarse = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["series", "at"], name="metric_point_series_at"),
            models.Index(fields=["coarse", "at"], name="metric_point_coarse_at"),
        ]

    def __str__(self) -> str:
        return f"{self.series_id}@{self.at}={self.value}"


class StreamProducer(models.Model):
    """The Kafka stream's counters of one producing process (telemetry/stream.py).

    Samples are produced in whichever worker process scraped them, and a process's
    counters live in its memory; each one writes them here now and then, so that
    /healthz and /metrics, answered by any web process on any host, can add them up.
    A row no longer written is a process that ended: its counts still count (they are
    totals), its backlog and connection no longer do."""

    # host:pid:start, unique per process even when a pid is reused.
    process = models.CharField(max_length=300, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    reported_at = models.DateTimeField(db_index=True)
    # None until the producer has heard from (or lost) a broker.
    connected = models.BooleanField(null=True)
    backlog = models.PositiveIntegerField(default=0)
    delivered = models.PositiveBigIntegerField(default=0)
    dropped_queue_full = models.PositiveBigIntegerField(default=0)
    dropped_message_timeout = models.PositiveBigIntegerField(default=0)
    dropped_error = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return self.process
