"""The Kafka stream of scraped samples (SPEC section 10).

Placeholder on the scrape branch: the Kafka part is built on its own branch, which
replaces this module whole. The scrape round calls ``samples_produce`` only when
KAFKA_BOOTSTRAP_SERVERS is set, and never lets it fail a round."""

from __future__ import annotations

from telemetry.samples import InstanceRef, Sample


def samples_produce(instance: InstanceRef, target: str, samples: list[Sample]) -> None:
    """Produce ``samples`` to KAFKA_METRICS_TOPIC (the Kafka branch's; nothing here)."""
