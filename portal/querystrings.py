"""Links that change some GET parameters of the current page and keep the others."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.http import QueryDict


def query_with(
    params: QueryDict, changes: Mapping[str, str | None], *, drop: Iterable[str] = ()
) -> str:
    """``?...`` for ``params`` with ``changes`` applied (None removes a key) and the
    ``drop`` keys removed, e.g. the page number when a filter changes."""
    query = params.copy()
    for key in drop:
        query.pop(key, None)
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    encoded = query.urlencode()
    return f"?{encoded}" if encoded else "?"
