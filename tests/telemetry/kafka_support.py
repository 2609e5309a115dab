"""Kafka for the stream tests: the shared broker of scripts/services.sh, and private
brokers started from its cached jars for the tests that stop one.

``services.sh env`` names the shared broker (KAFKA_BOOTSTRAP_SERVERS) and the jars
(KAFKA_LIBS); without them these tests skip, like the cluster tests without an API
server. A private broker is never the shared one: stopping it disturbs nobody."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from confluent_kafka import Consumer

JAVA17 = Path("/usr/lib/jvm/java-17-openjdk-amd64/bin/java")


def kafka_servers() -> str:
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if not servers:
        pytest.skip('no Kafka: eval "$(scripts/services.sh env)" after `up`')
    return servers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateBroker:
    """One KRaft node (broker and controller) of this test's own, in ``folder``.
    ``stop`` and ``start`` again keep its data and its port."""

    def __init__(self, folder: Path) -> None:
        libs = os.environ.get("KAFKA_LIBS", "")
        if not libs or not Path(libs).is_dir():
            pytest.skip("no Kafka jars (KAFKA_LIBS) to start a private broker from")
        self.libs = libs
        self.folder = folder
        self.port = _free_port()
        self.controller_port = _free_port()
        self.log = folder / "kafka.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.java = str(JAVA17) if JAVA17.exists() else (shutil.which("java") or "java")
        self._configure()
        self._run(
            "kafka.tools.StorageTool",
            "format",
            "-t",
            self._cluster_id(),
            "-c",
            str(folder / "server.properties"),
        )

    @property
    def servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _cluster_id(self) -> str:
        return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")

    def _configure(self) -> None:
        # The same settings as scripts/services.sh's broker, on ports of its own.
        (self.folder / "server.properties").write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    "controller.listener.names=CONTROLLER",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.folder / 'data'}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "auto.create.topics.enable=true",
                    "group.initial.rebalance.delay.ms=0",
                    "",
                ]
            )
        )
        (self.folder / "log4j2.properties").write_text(
            "rootLogger.level=INFO\n"
            "rootLogger.appenderRef.stdout.ref=STDOUT\n"
            "appender.stdout.type=Console\n"
            "appender.stdout.name=STDOUT\n"
            "appender.stdout.layout.type=PatternLayout\n"
            "appender.stdout.layout.pattern=[%d] %p %m (%c)%n\n"
        )

    def _java(self, main: str, *args: str, heap: str) -> list[str]:
        return [
            self.java,
            f"-Xmx{heap}",
            "-XX:+UseSerialGC",
            f"-Dlog4j2.configurationFile={self.folder / 'log4j2.properties'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def _run(self, main: str, *args: str) -> None:
        subprocess.run(
            self._java(main, *args, heap="128m"), check=True, capture_output=True, timeout=120
        )

    def start(self, *, timeout: float = 120) -> None:
        self.log.write_bytes(b"")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self._java("kafka.Kafka", str(self.folder / "server.properties"), heap="256m"),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while b"Kafka Server started" not in self.log.read_bytes():
            if self.process.poll() is not None:
                raise RuntimeError(f"private Kafka exited:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"private Kafka did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGKILL: the broker vanishes as in a crash or a lost host, mid-conversation."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None


def read_topic(
    servers: str, topic: str, *, expect: int, timeout: float = 60
) -> list[tuple[str, dict]]:
    """Every message of ``topic`` from the start, as (key, JSON value); waits until
    ``expect`` arrived, then a little longer for any more (duplicates must show)."""
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": f"test-{topic}-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                if quiet_until is not None and time.monotonic() > quiet_until:
                    break
                continue
            key, value = message.key(), message.value()
            assert key is not None and value is not None
            messages.append((key.decode(), json.loads(value)))
            if len(messages) >= expect and quiet_until is None:
                quiet_until = time.monotonic() + 2
    finally:
        consumer.close()
    return messages


def names_of(messages: Iterable[tuple[str, dict]]) -> list[str]:
    return [value["name"] for _, value in messages]
