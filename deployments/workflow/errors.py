"""How a step fails: for good (the operation fails and undoes what it applied) or
for now (the task retries with backoff)."""

from __future__ import annotations


class StepFailed(Exception):
    """A domain failure with a one-line message fit for the user: bad values, a
    template error, an archive that does not verify, a dependent instance."""


class StepTransient(Exception):
    """Something outside us is unreachable for now; the same step is retried."""
