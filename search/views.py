"""`/search/` results page and `/search/suggest/` for the header search box."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_safe

from portal.querystrings import query_with
from search.backends.base import FACETS, TYPE_LABELS, TYPES
from search.services.query import search_query_parse, search_run, search_suggest

FACET_LABELS = {
    "category": "Category",
    "market": "Market",
    "namespace": "Namespace",
    "status": "Status",
}


def _url(params: QueryDict, **changes: str | None) -> str:
    return query_with(params, changes, drop=("page",))


@login_required
@require_safe
def search_page(request: HttpRequest) -> HttpResponse:
    query = search_query_parse(request.GET)
    results = search_run(user=request.user, query=query)
    params = request.GET
    type_counts = dict(results.facets.get("type", []))
    tabs = [
        {
            "label": "All",
            "url": _url(params, type=None),
            "active": not query.type,
            "count": sum(type_counts.values()),
        }
    ]
    for kind in TYPES:
        tabs.append(
            {
                "label": TYPE_LABELS[kind],
                "url": _url(params, type=kind),
                "active": query.type == kind,
                "count": type_counts.get(kind, 0),
            }
        )
    facets = []
    for facet in FACETS:
        chosen = query.filters.get(facet, "")
        buckets = results.facets.get(facet, [])
        if not buckets and not chosen:
            continue
        facets.append(
            {
                "name": facet,
                "label": FACET_LABELS[facet],
                "clear_url": _url(params, **{facet: None}) if chosen else "",
                "values": [
                    {
                        "value": value,
                        "count": count,
                        "active": value == chosen,
                        "url": _url(params, **{facet: None if value == chosen else value}),
                    }
                    for value, count in buckets
                ],
            }
        )
    page = query.page
    context: dict[str, Any] = {
        "query": query,
        "results": results,
        "hits": [
            {"hit": hit, "label": TYPE_LABELS.get(hit.type, hit.type)} for hit in results.hits
        ],
        "tabs": tabs,
        "facets": facets,
        "previous_url": query_with(params, {"page": str(page - 1)}) if page > 1 else "",
        "next_url": query_with(params, {"page": str(page + 1)}) if page < results.pages else "",
    }
    return render(request, "search/results.html", context)


@login_required
@require_safe
def suggest(request: HttpRequest) -> JsonResponse:
    """Suggestions as the user types, in the search-box component's format
    (docs/components/search-box.md): ``{"results": [{title, url, type}]}``."""
    found = search_suggest(user=request.user, q=request.GET.get("q", ""))
    return JsonResponse(
        {"results": [{**s.as_dict(), "type": TYPE_LABELS.get(s.type, s.type)} for s in found]}
    )
