"""Where scraped samples are kept: Elasticsearch when ELASTICSEARCH_URL is set, else
the database (telemetry.storage.base has the interface both implement)."""

from __future__ import annotations

from django.conf import settings

from telemetry.storage.base import Batch, MetricsStore, Series


def metrics_store() -> MetricsStore:
    if settings.ELASTICSEARCH_URL:
        from telemetry.storage.elastic import ElasticMetricsStore

        return ElasticMetricsStore()
    from telemetry.storage.database import DatabaseMetricsStore

    return DatabaseMetricsStore()


__all__ = ["Batch", "MetricsStore", "Series", "metrics_store"]
