"""Market storage: where a market's files live (SPEC section 3).

Publish and sync services use only this package's public names::

    storage = open_storage(location, writable=True, endpoint_url=..., credentials=...)
    probe_conditional_writes(storage)                     # before writing to a new market
    storage.put_new("apps/x/x-1.0.0.tgz", archive)        # AlreadyExists if there
    doc, etag = update_json(storage, "apps/x/index.json", add_version)
    blob = storage.get_if_changed("market.json", last_etag)   # None: unchanged

See :class:`MarketStorage` for the interface and its guarantees.
"""

from market.storage.base import (
    AlreadyExists,
    Blob,
    MarketStorage,
    NotFound,
    PreconditionFailed,
    ReadOnlyStorage,
    StorageError,
    TransientStorageError,
    UnsafeLocation,
    validate_key,
)
from market.storage.cas import ConflictRetriesExhausted, dump_json, load_json, update_json
from market.storage.factory import open_storage
from market.storage.probe import ProbeResult, probe_conditional_writes

__all__ = [
    "AlreadyExists",
    "Blob",
    "ConflictRetriesExhausted",
    "MarketStorage",
    "NotFound",
    "PreconditionFailed",
    "ProbeResult",
    "ReadOnlyStorage",
    "StorageError",
    "TransientStorageError",
    "UnsafeLocation",
    "dump_json",
    "load_json",
    "open_storage",
    "probe_conditional_writes",
    "update_json",
    "validate_key",
]
