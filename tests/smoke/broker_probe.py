"""A task for the embedded broker stress test, loaded into a real worker with
`celery -A portal worker -I tests.smoke.broker_probe`: it records each number it
receives, so the test can count what arrived. Beat sends ticks through the same
broker, as the scheduler of `make run` does."""

from __future__ import annotations

import os

from celery import shared_task

from portal.celery import app

PROBE_FILE = "BROKER_PROBE_FILE"


@shared_task(name="broker_probe.record", soft_time_limit=20, time_limit=30, ignore_result=True)
def record(number: int) -> None:
    # One short O_APPEND write per line: lines from the pool's processes never interleave.
    fd = os.open(os.environ[PROBE_FILE], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{number}\n".encode())
    finally:
        os.close(fd)


# The scheduler publishes too while the producers run: -1 marks its ticks.
app.conf.beat_schedule = {
    **app.conf.beat_schedule,
    "broker-probe-tick": {"task": "broker_probe.record", "schedule": 0.25, "args": [-1]},
}
