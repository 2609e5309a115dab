"""One scraped sample, as every part of the pipeline (storage, the Kafka stream, the
API) passes it on."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InstanceRef:
    """The instance a sample belongs to (the ``instance`` object of a Kafka message)."""

    namespace: str
    name: str
    app: str
    version: str


@dataclass(frozen=True)
class Sample:
    name: str  # the sample's name as exposed (``http_requests_total``, ``rpc_seconds_bucket``)
    value: float
    timestamp: float  # unix seconds: the exporter's own, else the scrape's
    type: str  # the family's type: counter, gauge, histogram, summary, untyped, ...
    # The sample's own labels plus opsmarket_namespace, opsmarket_instance,
    # opsmarket_app, opsmarket_version and pod (SPEC section 10).
    labels: dict[str, str] = field(default_factory=dict)
