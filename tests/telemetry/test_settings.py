"""The stream's settings (SPEC 13) refuse what Kafka would refuse later, at start-up."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_kafka_servers, env_kafka_topic

pytestmark = pytest.mark.smoke


def test_brokers_are_host_port_pairs_normalised(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", " kafka-1.corp:9092, 10.0.0.5:9093,[::1]:9092 ")

    assert (
        env_kafka_servers("KAFKA_BOOTSTRAP_SERVERS") == "kafka-1.corp:9092,10.0.0.5:9093,[::1]:9092"
    )


def test_no_brokers_means_no_stream(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)

    assert env_kafka_servers("KAFKA_BOOTSTRAP_SERVERS") == ""


@pytest.mark.parametrize("value", ["kafka-1", "kafka://host:9092", "host:port", "a:1 b:2"])
def test_a_broker_without_a_port_or_with_a_scheme_is_refused(monkeypatch, value):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", value)

    with pytest.raises(ImproperlyConfigured, match="host:port"):
        env_kafka_servers("KAFKA_BOOTSTRAP_SERVERS")


@pytest.mark.parametrize("value", ["metrics stream", "a/b", "..", "x" * 250, "ünïcode"])
def test_a_topic_kafka_would_refuse_is_refused(monkeypatch, value):
    monkeypatch.setenv("KAFKA_METRICS_TOPIC", value)

    with pytest.raises(ImproperlyConfigured, match="topic name"):
        env_kafka_topic("KAFKA_METRICS_TOPIC", "opsmarket-metrics")


def test_the_topic_defaults_when_unset_or_blank(monkeypatch):
    monkeypatch.setenv("KAFKA_METRICS_TOPIC", "  ")

    assert env_kafka_topic("KAFKA_METRICS_TOPIC", "opsmarket-metrics") == "opsmarket-metrics"
