"""Bounded retries with exponential backoff and full jitter, for transient failures.

Backends raise :class:`TransientStorageError` for one failed attempt that may succeed
if repeated (5xx, throttling, timeouts, dropped connections); anything else is final
and goes straight through. Jitter keeps many platforms that failed together from
retrying together.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from market.storage.base import TransientStorageError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))

    def call(self, operation: Callable[[], T]) -> T:
        """Run ``operation``, repeating it on ``TransientStorageError`` up to ``attempts``
        times in all; then raise the last error, saying how many attempts were made."""
        for attempt in range(self.attempts):
            try:
                return operation()
            except TransientStorageError as error:
                if attempt + 1 >= self.attempts:
                    raise TransientStorageError(
                        f"{error} (gave up after {self.attempts} attempts)"
                    ) from error
                self.sleep(self.delay(attempt))
        raise AssertionError("unreachable: attempts must be at least 1")


NO_RETRY = RetryPolicy(attempts=1)
