"""Tell the rest of the portal an instance changed (the search index listens)."""

from __future__ import annotations


def instance_changed(instance_id: int) -> None:
    """Call inside the transaction that changed the instance: the search index
    is updated after it commits, never from a write that rolls back."""
    try:
        from search.services.indexing import index_later
    except ImportError:  # search indexing lands with issue 5
        return
    index_later("instance", [instance_id])
