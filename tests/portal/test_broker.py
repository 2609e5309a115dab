"""The embedded broker (portal.broker): a message file is whole before any consumer
can see it, and a file that does not decode is set aside instead of stopping the
consumer (issue 14, item 1; kombu issue 1551)."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from kombu import Connection
from kombu.transport import filesystem

from portal import broker

pytestmark = pytest.mark.smoke


def _options(root: Path) -> dict[str, object]:
    messages = root / "messages"
    for sub in ("messages", "processed", "control"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(messages),
        "data_folder_out": str(messages),
        "processed_folder": str(root / "processed"),
        "control_folder": str(root / "control"),
    }


@pytest.fixture
def queue_dir(tmp_path: Path) -> Path:
    return tmp_path / "queue"


@pytest.fixture
def connection(queue_dir: Path) -> Iterator[Connection]:
    with Connection(
        "filesystem://localhost//",
        transport=broker.Transport,
        transport_options=_options(queue_dir),
    ) as conn:
        yield conn


def _channel(conn: Connection) -> broker.Channel:
    return cast(broker.Channel, conn.default_channel)


def _message(number: int) -> dict[str, object]:
    # The shape kombu's virtual channel reads back (properties.delivery_tag etc.).
    return {"body": str(number), "properties": {}, "headers": {}}


def test_messages_go_through_in_order_and_leave_no_files(connection, queue_dir) -> None:
    channel = _channel(connection)
    for number in range(5):
        channel._put("work", _message(number))

    received = [channel._get("work")["body"] for _ in range(5)]

    assert received == ["0", "1", "2", "3", "4"]
    with pytest.raises(broker.Empty):
        channel._get("work")
    leftovers = [p.name for p in queue_dir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_a_message_still_being_written_is_never_consumed(connection, queue_dir) -> None:
    """What the producer leaves while it writes is a hidden temporary file; only
    the rename that follows makes it a message."""
    channel = _channel(connection)
    name = "1_00000000-0000-0000-0000-000000000000.work.msg"
    partial = queue_dir / "messages" / f".{name}.abc.tmp"
    partial.write_bytes(b'{"body": "half')

    with pytest.raises(broker.Empty):
        channel._get("work")
    assert partial.exists()

    partial.write_bytes(json.dumps(_message(7)).encode())
    os.rename(partial, queue_dir / "messages" / name)
    time.sleep(broker.QUIET_SECONDS)  # a queue found empty is not listed again at once
    assert channel._get("work")["body"] == "7"


def test_kombus_own_transport_crashes_on_the_empty_file_this_one_never_publishes(
    queue_dir,
) -> None:
    """The failure of issue 14: an empty .msg file (created, not yet written)."""
    options = _options(queue_dir)
    (queue_dir / "messages" / "1_x.work.msg").write_bytes(b"")
    with (
        Connection("filesystem://localhost//", transport_options=options) as stock,
        pytest.raises(json.JSONDecodeError),
    ):
        cast(filesystem.Channel, stock.default_channel)._get("work")


def test_undecodable_files_are_quarantined_and_the_next_message_delivered(
    connection, queue_dir, caplog
) -> None:
    channel = _channel(connection)
    messages = queue_dir / "messages"
    (messages / "1_a.work.msg").write_bytes(b"")  # empty
    (messages / "2_b.work.msg").write_bytes(b"\xff\xfe not json")
    (messages / "3_c.work.msg").write_bytes(b"[1, 2]")  # JSON, but not a message
    (messages / "4_d.work.msg").write_bytes(json.dumps(_message(42)).encode())

    with caplog.at_level(logging.WARNING, logger="portal.broker"):
        assert channel._get("work")["body"] == "42"

    quarantined = sorted(p.name for p in (queue_dir / "quarantine").iterdir())
    assert quarantined == ["1_a.work.msg", "2_b.work.msg", "3_c.work.msg"]
    assert caplog.text.count("undecodable message quarantined") == 3
    with pytest.raises(broker.Empty):
        channel._get("work")


def test_a_consumer_running_beside_busy_producers_gets_every_message_once(
    connection, queue_dir
) -> None:
    """Two producer threads on their own connections and a consumer polling the
    folder all the while: every message arrives whole, once."""
    per_producer = 1500
    options = _options(queue_dir)

    def produce(offset: int) -> None:
        with Connection(
            "filesystem://", transport=broker.Transport, transport_options=options
        ) as conn:
            for number in range(offset, offset + per_producer):
                _channel(conn)._put("work", _message(number))

    producers = [threading.Thread(target=produce, args=(n * per_producer,)) for n in (0, 1)]
    for thread in producers:
        thread.start()
    received: list[str] = []
    channel = _channel(connection)
    deadline = time.monotonic() + 60
    while len(received) < 2 * per_producer and time.monotonic() < deadline:
        try:
            received.append(channel._get("work")["body"])
        except broker.Empty:
            time.sleep(0.001)
    for thread in producers:
        thread.join()

    assert sorted(map(int, received)) == list(range(2 * per_producer))
    assert list((queue_dir / "quarantine").iterdir()) == []


def test_a_message_claimed_by_a_lost_consumer_is_queued_again(queue_dir) -> None:
    options = _options(queue_dir)
    claimed = queue_dir / "claimed"
    claimed.mkdir(parents=True)
    abandoned = claimed / "1_a.work.msg"
    abandoned.write_bytes(json.dumps(_message(1)).encode())
    old = time.time() - broker.ABANDONED_CLAIM_SECONDS - 5
    os.utime(abandoned, (old, old))
    in_flight = claimed / "2_b.work.msg"  # a live consumer is reading this one
    in_flight.write_bytes(json.dumps(_message(2)).encode())

    with Connection("filesystem://", transport=broker.Transport, transport_options=options) as conn:
        assert _channel(conn)._get("work")["body"] == "1"

    assert in_flight.exists()


def test_an_empty_or_damaged_exchange_table_reads_as_empty_and_is_rewritten(
    connection, queue_dir
) -> None:
    """kombu's own bind creates the table file before it writes it; a reader in
    between got JSONDecodeError. Here the table is empty, then bound again."""
    channel = _channel(connection)
    table = queue_dir / "control" / "tasks.exchange"
    table.write_bytes(b"")

    assert channel.get_table("tasks") == []

    channel._queue_bind("tasks", "work", "", "work")
    channel._queue_bind("tasks", "work", "", "work")  # a second bind adds nothing
    assert channel.get_table("tasks") == [filesystem.exchange_queue_t("work", "", "work")]
    assert json.loads(table.read_bytes()) == [["work", "", "work"]]


def test_publish_and_consume_through_kombu_queues(connection) -> None:
    """The whole path kombu takes: declare, bind, publish by routing key, get, ack."""
    queue = connection.SimpleQueue("simple-work")
    try:
        queue.put({"n": 1})
        queue.put({"n": 2})
        got = [queue.get(timeout=5) for _ in range(2)]
        for message in got:
            message.ack()
        assert [m.payload for m in got] == [{"n": 1}, {"n": 2}]
    finally:
        queue.close()
