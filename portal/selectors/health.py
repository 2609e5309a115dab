"""What /healthz reports: database, worker queue, search, storage and the Kafka stream."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection

from portal import seams
from portal.queue import queue_problem


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "backend": connection.vendor}
    except Exception as exc:  # any driver error means "down"
        return {"ok": False, "backend": connection.vendor, "error": type(exc).__name__}


def _check_queue() -> dict[str, Any]:
    report: dict[str, Any] = {
        "ok": True,
        "backend": "redis" if settings.REDIS_URL else "filesystem",
    }
    problem = queue_problem()
    if problem is not None:
        report.update(ok=False, error=problem)
    return report


def _check_search() -> dict[str, Any]:
    if settings.SEARCH_BACKEND != "elasticsearch":
        return {"ok": True, "backend": "database"}
    from elasticsearch import Elasticsearch

    try:
        client = Elasticsearch(settings.ELASTICSEARCH_URL, request_timeout=1)
        health = client.cluster.health(timeout="1s")
        return {"ok": health["status"] in ("green", "yellow"), "backend": "elasticsearch"}
    except Exception as exc:  # transport errors of every kind mean "down"
        return {"ok": False, "backend": "elasticsearch", "error": type(exc).__name__}


def _check_storage() -> dict[str, Any]:
    markets = settings.MARKETS_DIR
    try:
        markets.mkdir(parents=True, exist_ok=True)
        probe = markets / ".healthz"
        probe.write_bytes(b"ok")
        probe.unlink()
        return {"ok": True, "backend": "local"}
    except OSError as exc:
        return {"ok": False, "backend": "local", "error": type(exc).__name__}


def _check_kafka() -> dict[str, Any]:
    """The metrics stream: whether Kafka answers this process now, and the counters of
    every producing process (delivered, dropped by reason, waiting). Not configured is
    fine; a down Kafka is reported, never fatal (scraping goes on without it)."""
    if not settings.KAFKA_BOOTSTRAP_SERVERS:
        return {"ok": True, "configured": False}
    report: dict[str, Any] = {"configured": True}
    connected = seams.kafka_stream_probe(timeout=1.0)
    report.update(ok=bool(connected), connected=bool(connected))
    try:
        summary = seams.kafka_stream_summary()
    except Exception as exc:  # the database being down is reported under database
        report["error"] = type(exc).__name__
        return report
    report.update(
        producers=summary.producers,
        backlog=summary.backlog,
        delivered=summary.delivered,
        dropped=summary.dropped_total,
        dropped_by_reason=summary.dropped,
    )
    return report


def health_report() -> dict[str, Any]:
    report: dict[str, Any] = {
        "database": _check_database(),
        "queue": _check_queue(),
        "search": _check_search(),
        "storage": _check_storage(),
        "kafka": _check_kafka(),
    }
    report["ok"] = all(part["ok"] for part in report.values())
    return report
