"""Search backend over Elasticsearch: one query per page of results, with facets.

The permission filter is part of the query itself, so hits, counts and facets only
ever count documents the user may see.
"""

from __future__ import annotations

import re
from typing import Any

from elasticsearch import Elasticsearch

from portal.models import Membership
from portal.permissions import is_staff
from search.backends.base import (
    FACETS,
    MARK_CLOSE,
    MARK_OPEN,
    MAX_RESULTS_WINDOW,
    SUGGEST_CANDIDATES,
    VERSION_FLAG_META,
    Hit,
    SearchQuery,
    SearchResults,
    Suggestion,
    marked,
    suggestions_ranked,
)
from search.client import all_aliases, es_client

# Name and title first. Each text field has a ``.zh`` twin analysed for Chinese; the
# twins are searched only when the query holds CJK characters (half the work else).
TEXT_FIELDS = [
    "name^6", "title^5", "keywords^3", "summary^2", "body", "maintainers",
    "status_message", "value_keys", "resources", "yanked", "advisories",
]  # fmt: skip
ZH_FIELDS = ["name.zh^5", "title.zh^5", "summary.zh^2", "body.zh", "maintainers.zh"]
EXACT_FIELDS = [
    "app^3", "namespace^2", "team", "status", "category", "version", "live_health", "live_sync",
    "flags^2", "advisory",
]  # fmt: skip
SUGGEST_FIELDS = ["name.suggest^3", "title.suggest^2"]
HIGHLIGHT_FIELDS = ["summary", "body", "status_message"]
HIGHLIGHT_ZH_FIELDS = ["summary.zh", "body.zh"]
META_FIELDS = (*FACETS, "version", "app", "app_title", "team", *VERSION_FLAG_META)
SOURCE_FIELDS = ["type", "title", "url", "summary", *META_FIELDS]
# One edit from 4 characters, two from 12: "promethues" (a transposition is one edit)
# and "grafna" are found, and fuzzy expansion stays cheap.
FUZZINESS = "AUTO:4,12"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def permission_filter(user: Any) -> dict[str, Any] | None:
    """Who sees what, mirroring portal.permissions: staff everything; a signed-in
    user the catalogue, the docs and their own teams' namespaces and instances."""
    if is_staff(user):
        return None
    if not user.is_authenticated:
        return {"match_none": {}}
    team_ids = [
        str(t) for t in Membership.objects.filter(user_id=user.pk).values_list("team_id", flat=True)
    ]
    return {
        "bool": {
            "should": [
                {"term": {"audience": "users"}},
                {
                    "bool": {
                        "filter": [{"term": {"audience": "team"}}, {"terms": {"team_id": team_ids}}]
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }


def _permission_filters(user: Any) -> list[dict[str, Any]]:
    allowed = permission_filter(user)
    return [] if allowed is None else [allowed]


def text_query(q: str) -> dict[str, Any]:
    lowered = q.lower()
    fields = TEXT_FIELDS + ZH_FIELDS if has_cjk(q) else TEXT_FIELDS
    return {
        "bool": {
            "should": [
                # Every word in one field, typos allowed.
                {
                    "multi_match": {
                        "query": q,
                        "fields": fields + EXACT_FIELDS,
                        "type": "best_fields",
                        "operator": "and",
                        "fuzziness": FUZZINESS,
                        "prefix_length": 1,
                        "lenient": True,
                    }
                },
                # Every word somewhere in the document.
                {
                    "multi_match": {
                        "query": q,
                        "fields": fields,
                        "type": "cross_fields",
                        "operator": "and",
                    }
                },
                # The words together, in order (for Chinese: the characters in a row).
                {"multi_match": {"query": q, "fields": fields, "type": "phrase", "boost": 3}},
                # The last word still being typed.
                {
                    "multi_match": {
                        "query": q,
                        "fields": SUGGEST_FIELDS,
                        "type": "bool_prefix",
                        "operator": "and",
                    }
                },
                {"term": {"name.raw": {"value": lowered, "boost": 20}}},
                {"term": {"title.raw": {"value": lowered, "boost": 10}}},
            ],
            "minimum_should_match": 1,
        }
    }


def _selected(query: SearchQuery) -> dict[str, str]:
    selected = {key: value for key, value in query.filters.items() if key in FACETS and value}
    if query.type:
        selected["type"] = query.type
    return selected


def _terms(selected: dict[str, str], *, without: str = "") -> list[dict[str, Any]]:
    return [{"term": {key: value}} for key, value in selected.items() if key != without]


def search_body(query: SearchQuery, *, user: Any) -> dict[str, Any]:
    """The whole request body for one page of results (also used by the benchmark)."""
    filters = _permission_filters(user)
    must: dict[str, Any] = text_query(query.q) if query.q.strip() else {"match_all": {}}
    selected = _selected(query)
    aggs = {
        facet: {
            # Each facet counts with the other facets' choices applied, not its own,
            # so that its other values stay visible with their counts.
            "filter": {"bool": {"filter": _terms(selected, without=facet)}},
            "aggs": {"values": {"terms": {"field": facet, "size": 20}}},
        }
        for facet in ("type", *FACETS)
    }
    size = max(0, min(query.per_page, MAX_RESULTS_WINDOW - query.offset))
    return {
        "query": {"bool": {"must": [must], "filter": filters}},
        "post_filter": {"bool": {"filter": _terms(selected)}},
        "aggs": aggs,
        "from": min(query.offset, MAX_RESULTS_WINDOW),
        "size": size,
        "track_total_hits": True,
        "_source": SOURCE_FIELDS,
        "sort": ["_score", {"title.raw": "asc"}]
        if query.q.strip()
        else [{"type": "asc"}, {"title.raw": "asc"}],
        "highlight": {
            "pre_tags": [MARK_OPEN],
            "post_tags": [MARK_CLOSE],
            "fields": {
                name: {"number_of_fragments": 1, "fragment_size": 160} for name in HIGHLIGHT_FIELDS
            },
            "require_field_match": False,
        },
    }


def suggest_body(q: str, *, user: Any, limit: int) -> dict[str, Any]:
    filters = _permission_filters(user)
    return {
        "query": {
            "bool": {
                "should": [
                    {
                        "multi_match": {
                            "query": q,
                            "fields": SUGGEST_FIELDS,
                            "type": "bool_prefix",
                            "operator": "and",
                        }
                    },
                    {
                        "multi_match": {
                            "query": q,
                            "fields": ["name^2", "title", "name.zh", "title.zh"],
                            "fuzziness": FUZZINESS,
                            "prefix_length": 1,
                            "operator": "and",
                        }
                    },
                    {"term": {"name.raw": {"value": q.lower(), "boost": 10}}},
                ],
                "minimum_should_match": 1,
                "filter": filters,
            }
        },
        "size": limit,
        "_source": ["type", "title", "url"],
    }


def _hit(raw: dict[str, Any]) -> Hit:
    source = raw.get("_source") or {}
    fragments = raw.get("highlight") or {}
    fragment = next(
        (fragments[f][0] for f in (*HIGHLIGHT_FIELDS, *HIGHLIGHT_ZH_FIELDS) if fragments.get(f)),
        None,
    )
    summary = str(source.get("summary") or "")
    return Hit(
        type=str(source.get("type") or ""),
        title=str(source.get("title") or ""),
        url=str(source.get("url") or ""),
        highlight=marked(fragment if fragment is not None else summary),
        summary=summary,
        meta={key: str(source.get(key) or "") for key in META_FIELDS},
        score=float(raw.get("_score") or 0.0),
    )


class ElasticsearchBackend:
    def __init__(self, client: Elasticsearch | None = None) -> None:
        self.client = client or es_client()

    def search(self, query: SearchQuery, *, user: Any) -> SearchResults:
        # dfs: term statistics of all indexes together, so that scores of an app and
        # of a docs page (different indexes) compare.
        answer = self.client.search(
            index=all_aliases(),
            body=search_body(query, user=user),
            ignore_unavailable=True,
            search_type="dfs_query_then_fetch",
        )
        facets = {
            facet: [(b["key"], b["doc_count"]) for b in agg["values"]["buckets"]]
            for facet, agg in (answer.get("aggregations") or {}).items()
        }
        return SearchResults(
            count=int(answer["hits"]["total"]["value"]),
            hits=[_hit(raw) for raw in answer["hits"]["hits"]],
            facets=facets,
            query=query,
        )

    def suggest(self, q: str, *, user: Any, limit: int = 8) -> list[Suggestion]:
        answer = self.client.search(
            index=all_aliases(),
            body=suggest_body(q, user=user, limit=limit * SUGGEST_CANDIDATES),
            ignore_unavailable=True,
        )
        found = [
            Suggestion(type=s.get("type", ""), title=s.get("title", ""), url=s.get("url", ""))
            for s in (raw.get("_source") or {} for raw in answer["hits"]["hits"])
        ]
        return suggestions_ranked(q, found, limit=limit)
