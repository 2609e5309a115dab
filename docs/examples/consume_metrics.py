"""Read the portal's metrics stream from Kafka (docs/metrics-stream.md).

    python docs/examples/consume_metrics.py --bootstrap-servers kafka-1.example.org:9092 \\
        --group team-a-metrics-archive [--topic opsmarket-metrics] [--namespace team-a] \\
        [--max-messages N] [--idle-seconds S]

Prints one line per sample: key, @timestamp, name, labels and value, as JSON. Runs
until interrupted, or until it has printed ``--max-messages`` samples, or until no
message came for ``--idle-seconds``. Needs only ``pip install confluent-kafka``.

A consumer group of its own per team and purpose: Kafka remembers where each group
stopped, so a restarted consumer goes on from there; a new group starts at the
oldest message the topic still keeps.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from confluent_kafka import Consumer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--group", required=True, help="consumer group id")
    parser.add_argument("--topic", default="opsmarket-metrics")
    parser.add_argument("--namespace", help="only this portal namespace's samples")
    parser.add_argument("--max-messages", type=int, default=0, help="0: no limit")
    parser.add_argument("--idle-seconds", type=float, default=0, help="0: wait for ever")
    args = parser.parse_args()

    consumer = Consumer(
        {
            "bootstrap.servers": args.bootstrap_servers,
            "group.id": args.group,
            "auto.offset.reset": "earliest",  # a new group starts at the oldest message kept
        }
    )
    consumer.subscribe([args.topic])
    printed = 0
    last_message = time.monotonic()
    try:
        while not args.max_messages or printed < args.max_messages:
            if args.idle_seconds and time.monotonic() - last_message > args.idle_seconds:
                break
            message = consumer.poll(1.0)
            if message is None:
                continue
            if message.error():
                print("consumer error:", message.error(), file=sys.stderr)
                continue
            last_message = time.monotonic()
            value = message.value()
            key = message.key()
            if value is None or key is None:
                continue
            sample = json.loads(value)
            if args.namespace and sample["instance"]["namespace"] != args.namespace:
                continue  # the topic carries every namespace's samples
            print(
                json.dumps(
                    {
                        "key": key.decode(),
                        "@timestamp": sample["@timestamp"],
                        "name": sample["name"],
                        "labels": sample["labels"],
                        "value": sample["value"],
                    }
                ),
                flush=True,
            )
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()  # commits the offsets read, leaves the group at once
    return 0


if __name__ == "__main__":
    sys.exit(main())
