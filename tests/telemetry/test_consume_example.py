"""docs/examples/consume_metrics.py, the consumer docs/metrics-stream.md points to,
run as a reader would run it against the real broker: it prints the samples the
portal produced, only those of the namespace asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from telemetry.samples import InstanceRef, Sample
from telemetry.stream import samples_produce, stream_flush

pytestmark = [pytest.mark.services, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "consume_metrics.py"


def samples(namespace: str, count: int) -> list[Sample]:
    labels = {"opsmarket_namespace": namespace, "pod": "web-0"}
    return [
        Sample(f"{namespace.replace('-', '_')}_{i}", float(i), 1767225600.0 + i, "gauge", labels)
        for i in range(count)
    ]


def test_the_documented_consumer_prints_one_namespaces_samples(stream: Any) -> None:
    samples_produce(
        InstanceRef("team-b", "db", "pg", "2.0"), "http://b/metrics", samples("team-b", 2)
    )
    samples_produce(
        InstanceRef("team-a", "web", "nginx", "1.0"), "http://a/metrics", samples("team-a", 3)
    )
    assert stream_flush(timeout=60) == 0

    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--bootstrap-servers",
            stream.KAFKA_BOOTSTRAP_SERVERS,
            "--group",
            f"example-{uuid4().hex[:8]}",
            "--topic",
            stream.KAFKA_METRICS_TOPIC,
            "--namespace",
            "team-a",
            "--max-messages",
            "3",
            "--idle-seconds",
            "60",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    assert printed == [
        {
            "key": "team-a/web",
            "@timestamp": f"2026-01-01T00:00:0{i}.000Z",
            "name": f"team_a_{i}",
            "labels": {"opsmarket_namespace": "team-a", "pod": "web-0"},
            "value": float(i),
        }
        for i in range(3)
    ]
