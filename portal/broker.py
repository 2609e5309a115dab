"""The embedded broker: kombu's filesystem transport, safe between processes.

`make run` has no Redis, so the web server, the worker and its scheduler (beat)
pass messages as files in ``<PORTAL_DATA_DIR>/queue``. kombu's own filesystem
transport loses that race (kombu issue 1551): a producer creates ``<name>.msg``
and only then writes it, so a consumer can claim the empty file in between, and
``json.loads("")`` stops the worker. Its exchange tables race the same way (a
new table file is empty until its writer takes the lock). This transport keeps
kombu's folder layout and file names and changes how files change hands:

- **publish is atomic**: a message is written to a hidden temporary name in the
  same folder, then ``os.rename``\\d to its ``.msg`` name, so a ``.msg`` file is
  always whole (rename within one file system is atomic);
- **a claim is a rename** into ``claimed/`` beside the queue folder (kombu moved
  files to the system temp folder, which may be another file system, where
  ``shutil.move`` copies): of two consumers exactly one wins, the other gets
  FileNotFoundError and moves on;
- **an undecodable message is quarantined**, not raised: the file goes to
  ``quarantine/`` with a warning and the consumer takes the next one. One bad
  file must never stop the worker that all queued work waits on;
- **exchange tables** are rewritten whole under a lock file and renamed into
  place, so readers need no lock and never see a half-written table;
- a message left in ``claimed/`` by a consumer that died between claiming and
  reading it goes back to the queue when a channel opens.

Settings choose it (``CELERY_BROKER_TRANSPORT``) when ``REDIS_URL`` is unset.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

# A claimed file older than this was left by a consumer that died: reading a
# claimed file takes microseconds, so no live consumer is still on it.
ABANDONED_CLAIM_SECONDS = 60.0
# The folder is listed at most this often: a message that arrives just after a
# listing waits up to this long, well within the polling interval.
QUIET_SECONDS = 0.05
# How often a worker whose prefetch window is full looks again (see Transport).
BUSY_PAUSE_SECONDS = 0.01


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that no reader ever sees part of it."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as f:
            f.write(data)
        os.rename(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


class Channel(filesystem.Channel):
    """Filesystem channel with atomic publish, rename claims and a quarantine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Names from the last listing of the folder, per queue.
        self._listed: dict[str, deque[str]] = {}
        self._listed_at = -QUIET_SECONDS
        for folder in (self.claimed_folder, self.quarantine_folder):
            folder.mkdir(parents=True, exist_ok=True)
        self._return_abandoned_claims()

    # --- folders -----------------------------------------------------------------

    @property
    def claimed_folder(self) -> Path:
        default = Path(self.data_folder_in).parent / "claimed"
        return Path(self.transport_options.get("claimed_folder", default))

    @property
    def quarantine_folder(self) -> Path:
        default = Path(self.data_folder_in).parent / "quarantine"
        return Path(self.transport_options.get("quarantine_folder", default))

    # --- messages ----------------------------------------------------------------

    # The signatures of kombu's filesystem channel; the stubs of its bases disagree.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        """Put ``payload`` on ``queue``: the file appears under its final name whole."""
        # kombu's name, with a zero-padded nanosecond clock first (kombu's is in
        # unpadded milliseconds): a sorted listing is then FIFO, also within a
        # millisecond. CLOCK_MONOTONIC is one clock for every process of the host.
        name = f"{time.monotonic_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        path = Path(self.data_folder_out) / name
        try:
            _write_atomically(path, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {str(path)!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        """Claim, read and return the oldest message of ``queue``; Empty when none.

        1. take names from the last listing of the folder, listing it again when
           this queue's names run out, unless that listing is younger than
           QUIET_SECONDS (the worker asks for every queue it consumes in turn,
           and listing a folder of n files for each of n messages is quadratic);
        2. claim a file by renaming it into ``claimed/``; a file another consumer
           claimed first is gone (FileNotFoundError) and skipped;
        3. read and decode it, then delete it (or keep it in ``processed/`` with
           ``store_processed``); a file that does not decode is quarantined.
        """
        for relisted in (False, True):
            names = self._listed.get(queue)
            while names:
                claimed = self._claim(names.popleft())
                if claimed is None:
                    continue
                payload = self._read_claimed(claimed)
                if payload is not None:
                    return payload
            if relisted or time.monotonic() - self._listed_at < QUIET_SECONDS:
                break
            self._relist()
        raise Empty()

    def _relist(self) -> None:
        """List the folder once for every queue, oldest message first."""
        listed: dict[str, deque[str]] = {}
        # Temporary files start with a dot, so their part after the first dot is
        # never "<queue>.msg": a half-written message is not listed.
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.endswith(".msg") and not name.startswith("."):
                queue = name.partition(".")[2].removesuffix(".msg")
                listed.setdefault(queue, deque()).append(name)
        self._listed = listed
        self._listed_at = time.monotonic()

    def _claim(self, name: str) -> Path | None:
        claimed = self.claimed_folder / name
        try:
            os.rename(Path(self.data_folder_in) / name, claimed)
        except FileNotFoundError:
            return None  # another consumer claimed it, or it was purged
        except OSError as exc:
            raise ChannelError(f"Cannot claim {name!r} from the queue") from exc
        return claimed

    def _read_claimed(self, claimed: Path) -> Any | None:
        """The decoded message, or None after quarantining a file that does not decode."""
        try:
            raw = claimed.read_bytes()
        except OSError as exc:
            raise ChannelError(f"Cannot read file {str(claimed)!r} from queue.") from exc
        try:
            payload = loads(bytes_to_str(raw))
            if not isinstance(payload, dict):
                raise ValueError(f"a message is a JSON object, not {type(payload).__name__}")
        except (ValueError, UnicodeDecodeError) as exc:
            self._quarantine(claimed, exc)
            return None
        if self.store_processed:
            os.replace(claimed, Path(self.processed_folder) / claimed.name)
        else:
            claimed.unlink(missing_ok=True)
        return payload

    def _quarantine(self, claimed: Path, exc: Exception) -> None:
        target = self.quarantine_folder / claimed.name
        try:
            os.replace(claimed, target)
        except OSError:
            # Keep the worker going even then: the file stays in claimed/, which
            # only a channel opening looks at again.
            log.warning("undecodable message %s (%s); could not move it", claimed, exc)
            return
        log.warning("undecodable message quarantined in %s: %s", target, exc)

    def _return_abandoned_claims(self) -> None:
        cutoff = time.time() - ABANDONED_CLAIM_SECONDS
        for path in self.claimed_folder.glob("*.msg"):
            with contextlib.suppress(OSError):  # another channel returned it first
                if path.stat().st_mtime < cutoff:
                    os.rename(path, Path(self.data_folder_in) / path.name)
                    log.warning("message %s claimed by a lost consumer: queued again", path.name)

    # --- exchange tables ------------------------------------------------------------

    def _table_file(self, exchange: str) -> Path:
        # kombu's checked path (no separators, no device names); not in the stubs.
        file: Path = self._exchange_file(exchange)  # type: ignore[attr-defined]
        return file

    def get_table(self, exchange: str) -> list[filesystem.exchange_queue_t]:  # type: ignore[override]
        """The queues bound to ``exchange``; tables are replaced whole, so no lock."""
        file = self._table_file(exchange)
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        try:
            return [filesystem.exchange_queue_t(*q) for q in json.loads(raw or b"[]")]
        except (ValueError, TypeError) as exc:
            # Written by kombu's own transport mid-way, or damaged: the next bind
            # rewrites it. A publish must not crash on it.
            log.warning("unreadable exchange table %s (%s); treating it as empty", file, exc)
            return []

    @contextlib.contextmanager
    def _table_lock(self, exchange: str) -> Iterator[Path]:
        file = self._table_file(exchange)
        self.control_folder.mkdir(parents=True, exist_ok=True)
        with open(file.with_name(file.name + ".lock"), "ab") as lock_file:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                yield file
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    def _queue_bind(
        self, exchange: str, routing_key: str | None, pattern: str | None, queue: str | None
    ) -> None:
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            with self._table_lock(exchange) as file:
                queues = self.get_table(exchange)
                if entry not in queues:
                    queues.insert(0, entry)
                    _write_atomically(file, str_to_bytes(dumps(queues)))
        except OSError as exc:
            raise ChannelError(f"Cannot bind {queue!r} to exchange {exchange!r}") from exc

    def _delete(
        self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any
    ) -> None:
        # The virtual channel's own bookkeeping, then the table (kombu's parent
        # method would rewrite the table in place).
        super(filesystem.Channel, self)._delete(
            queue, exchange, routing_key, pattern, *args, **kwargs
        )
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        with self._table_lock(exchange) as file:
            queues = self.get_table(exchange)
            if entry in queues:
                queues.remove(entry)
                _write_atomically(file, str_to_bytes(dumps(queues)))


class Transport(filesystem.Transport):
    """kombu's filesystem transport with the safe channel above.

    kombu's loop sleeps ``polling_interval`` whenever no message was delivered,
    also when messages wait but the worker's prefetch limit is reached. With
    ``prefetch_multiplier=1`` that is after every task or two, so a worker of
    two processes took about 8 messages a second at the default 1 s. Here a
    worker that is only waiting for its own prefetch window to open looks again
    after BUSY_PAUSE_SECONDS; an idle one polls the folder every
    ``polling_interval``.
    """

    Channel = Channel
    polling_interval = 0.2

    # kombu's virtual signature; the stubs of the base transport disagree, as for kombu's own.
    def drain_events(self, connection: Any, timeout: float | None = None) -> None:  # type: ignore[override]
        started = time.monotonic()
        cycle = self.cycle
        assert cycle is not None  # made in __init__
        while True:
            try:
                cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    raise TimeoutError() from None  # socket.timeout, as kombu's
                time.sleep(BUSY_PAUSE_SECONDS if self._prefetch_full() else self.polling_interval)

    def _prefetch_full(self) -> bool:
        # Any channel: the worker's tasks and its remote-control queue (pidbox)
        # are two channels, and the second one never fills.
        return any(c._consumers and not c.qos.can_consume() for c in self.channels or ())
