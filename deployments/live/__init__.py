"""Live state of what the portal applied to a cluster: sync and health per object.

Pure functions of the objects themselves (dicts as the API server returns them); no
request is made here. The caller (the refresh task, the API, the instance page) reads
each applied object back from the cluster and asks:

- sync (``resource_sync``): ``missing`` when the live object is not there (a GET
  answered 404); ``drifted`` when it differs from the applied one in a field the portal
  manages (``resource_drift``: the applied object compared as a subset of the live one,
  server defaults, status and other managers' fields left out); ``synced`` otherwise;
- health (``resource_health``): ``healthy``, ``progressing``, ``degraded`` or
  ``unknown`` with one line for people, from the live object's status. A missing object
  has no health of its own: the caller says ``unknown``, or ``progressing`` while an
  operation is still applying.
"""

from __future__ import annotations

from typing import Any

from deployments.live.drift import Drift, resource_drift
from deployments.live.health import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    UNKNOWN,
    Health,
    resource_health,
)

SYNCED = "synced"
DRIFTED = "drifted"
MISSING = "missing"


def resource_sync(applied: dict[str, Any], live: dict[str, Any] | None) -> str:
    """``missing`` (``live`` is None), ``drifted`` or ``synced``."""
    if live is None:
        return MISSING
    return DRIFTED if resource_drift(applied, live).drifted else SYNCED


__all__ = [
    "DEGRADED",
    "DRIFTED",
    "HEALTHY",
    "MISSING",
    "PROGRESSING",
    "SYNCED",
    "UNKNOWN",
    "Drift",
    "Health",
    "resource_drift",
    "resource_health",
    "resource_sync",
]
