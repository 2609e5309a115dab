"""Search backend over the database: the embedded default, and the fallback when
Elasticsearch cannot answer. Plain ``icontains`` with a simple score (an exact name
first, then name, title, summary, body matches). A query that finds nothing is
corrected against the catalogue's words (search.backends.spelling) and the corrected
query's results are shown, with "did you mean"."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from deployments.models import Instance, Namespace
from market.models import App, AppDoc
from market.prose import doc_slug, html_text, markdown_text
from market.selectors.advisories import (
    VersionFlags,
    app_flags,
    version_flags,
    with_version_flags,
)
from portal.components import list_components
from portal.permissions import filter_visible
from search.backends.base import (
    FACETS,
    MAX_RESULTS_WINDOW,
    SUGGEST_CANDIDATES,
    TYPES,
    VERSION_FLAG_META,
    Hit,
    SearchQuery,
    SearchResults,
    Suggestion,
    snippet,
    suggestions_ranked,
)
from search.backends.spelling import spelling_correct
from search.selectors.sources import app_url, flag_fields


@dataclass(frozen=True)
class _Spec:
    """How one type maps onto its model: searched fields by weight, facet fields."""

    name: str
    title: str
    weighted: tuple[tuple[str, int], ...]
    facets: dict[str, str]
    exact: int = 1000
    """Score of an exact `name` match: a docs page is not the app it belongs to."""


SPECS = {
    "app": _Spec(
        "name", "title",
        (("name", 50), ("title", 30), ("keywords", 15), ("summary", 10), ("readme", 1)),
        {"category": "category", "market": "market__name"},
    ),
    "appdoc": _Spec(
        "app__name", "title", (("title", 30), ("app__name", 20), ("body", 1)),
        {"category": "app__category", "market": "app__market__name"}, exact=40,
    ),
    "instance": _Spec(
        "name", "name",
        (("name", 50), ("app_name", 30), ("namespace__name", 10), ("status", 5),
         ("live_health", 5), ("live_sync", 5)),
        {"market": "market__name", "namespace": "namespace__name", "status": "status"},
    ),
    "namespace": _Spec(
        "name", "name", (("name", 50), ("description", 10)), {"namespace": "name"}
    ),
}  # fmt: skip


def _words(q: str) -> list[str]:
    return q.split()[:8]


def _queryset(kind: str, *, user: Any) -> QuerySet[Any]:
    if kind == "app":
        return App.objects.select_related("market").defer("icon")
    if kind == "appdoc":
        return AppDoc.objects.select_related("app", "app__market")
    if kind == "instance":
        rows = Instance.objects.select_related("namespace", "namespace__team", "market")
        # With their version's flags (SPEC 14): two subqueries, not two per hit.
        return with_version_flags(filter_visible(user, rows, team_field="namespace__team"))
    return filter_visible(user, Namespace.objects.select_related("team"))


def _filtered(kind: str, query: SearchQuery, *, user: Any) -> QuerySet[Any] | None:
    """Rows of `kind` matching the words and the chosen facets, or None when a chosen
    facet does not apply to the kind. Every word must match some field."""
    if not user.is_authenticated:
        return None
    spec = SPECS[kind]
    rows = _queryset(kind, user=user)
    for facet, value in query.filters.items():
        if facet not in FACETS or not value:
            continue
        if facet not in spec.facets:
            return None
        rows = rows.filter(**{spec.facets[facet]: value})
    for word in _words(query.q):
        match = Q()
        for field, _weight in spec.weighted:
            match |= Q(**{f"{field}__icontains": word})
        rows = rows.filter(match)
    return rows


def _scored(kind: str, rows: QuerySet[Any], q: str) -> QuerySet[Any]:
    spec = SPECS[kind]
    whens = (
        [When(**{f"{spec.name}__iexact": q.strip()}, then=Value(spec.exact))] if q.strip() else []
    )
    for field, weight in spec.weighted:
        for word in _words(q):
            whens.append(When(**{f"{field}__icontains": word}, then=Value(weight)))
    score = Case(*whens, default=Value(0), output_field=IntegerField()) if whens else Value(0)
    return rows.annotate(search_score=score).order_by("-search_score", spec.title, "pk")


def _flag_meta(flags: VersionFlags) -> dict[str, str]:
    """The hit meta of yanked versions and advisories, as the Elasticsearch
    documents carry it (search.selectors.sources.flag_fields)."""
    fields = flag_fields(flags)
    return {key: str(fields[key]) for key in VERSION_FLAG_META}


def _hit(kind: str, row: Any, words: list[str]) -> Hit:
    if kind == "app":
        return Hit(
            "app",
            row.title or row.name,
            app_url(row.market.name, row.name),
            snippet(row.summary or markdown_text(row.readme), words),
            row.summary,
            {
                "market": row.market.name,
                "category": row.category,
                "version": row.latest,
                **_flag_meta(app_flags(row.advisories)),
            },
        )
    if kind == "appdoc":
        app = row.app
        return Hit(
            "appdoc",
            row.title,
            f"{app_url(app.market.name, app.name)}docs/{doc_slug(row.path)}",
            # The words a reader sees on the page, not its Markdown.
            snippet(markdown_text(row.body), words),
            "",
            {
                "market": app.market.name,
                "category": app.category,
                "app": app.name,
                "app_title": app.title or app.name,
            },
        )
    if kind == "instance":
        ns = row.namespace.name
        return Hit(
            "instance", f"{row.name} in {ns}", f"/instances/{ns}/{row.name}/",
            snippet(f"{row.app_name} {row.version} {row.status_message}", words),
            f"{row.app_name} {row.version} from {row.market.name}",
            {"namespace": ns, "status": row.status, "market": row.market.name,
             "version": row.version, "app": row.app_name, "team": row.namespace.team.name,
             **_flag_meta(version_flags(row))},
        )  # fmt: skip
    return Hit(
        "namespace",
        row.name,
        f"/instances/?namespace={row.name}",
        snippet(row.description, words),
        row.description,
        {"namespace": row.name, "team": row.team.name},
    )


def _components(q: str, *, user: Any) -> list[Hit]:
    if not user.is_authenticated:
        return []
    words = [w.lower() for w in _words(q)]
    hits = []
    for doc in list_components():
        body = html_text(doc.body_html)
        text = f"{doc.name} {doc.title} {doc.summary} {body}".lower()
        if all(w in text for w in words):
            score = 1000 if q.strip().lower() in (doc.name, doc.title.lower()) else 1
            hits.append(
                Hit(
                    "component",
                    doc.title,
                    doc.url,
                    snippet(doc.summary + " " + body, words),
                    doc.summary,
                    score=score,
                )
            )
    return hits


class DatabaseBackend:
    def search(self, query: SearchQuery, *, user: Any) -> SearchResults:
        results = self._search(query, user=user)
        if results.count or not query.q.strip() or not user.is_authenticated:
            return results
        corrected = spelling_correct(query.q)
        if not corrected:
            return results
        retried = self._search(replace(query, q=corrected), user=user)
        if not retried.count:
            return results
        retried.query = query
        retried.did_you_mean = corrected
        retried.corrected = True
        return retried

    def _search(self, query: SearchQuery, *, user: Any) -> SearchResults:
        words = _words(query.q)
        kinds = [query.type] if query.type in TYPES else list(TYPES)
        wanted = query.offset + query.per_page
        type_counts: Counter[str] = Counter()
        facets: dict[str, Counter[str]] = {facet: Counter() for facet in FACETS}
        hits: list[Hit] = []
        for kind in TYPES:
            if kind == "component":
                found = (
                    []
                    if any(query.filters.get(f) for f in FACETS)
                    else _components(query.q, user=user)
                )
                type_counts[kind] = len(found)
                if kind in kinds:
                    hits.extend(found)
                continue
            rows = _filtered(kind, query, user=user)
            if rows is None:
                continue
            type_counts[kind] = rows.count()
            if kind not in kinds or not type_counts[kind]:
                continue
            # Every facet of the kind from one query, not one per facet.
            kind_facets = SPECS[kind].facets
            for values in rows.order_by().values_list(*kind_facets.values())[:MAX_RESULTS_WINDOW]:
                for facet, value in zip(kind_facets, values, strict=True):
                    if value:
                        facets[facet][str(value)] += 1
            for row in _scored(kind, rows, query.q)[: min(wanted, MAX_RESULTS_WINDOW)]:
                hit = _hit(kind, row, words)
                hit.score = float(row.search_score)
                hits.append(hit)
        hits.sort(key=lambda h: (-h.score, h.title.lower()))
        return SearchResults(
            count=sum(type_counts[k] for k in kinds),
            hits=hits[query.offset : wanted],
            facets={
                "type": [(k, n) for k, n in type_counts.most_common() if n],
                **{
                    f: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
                    for f, c in facets.items()
                },
            },
            query=query,
        )

    def suggest(self, q: str, *, user: Any, limit: int = 8) -> list[Suggestion]:
        results = self.search(SearchQuery(q=q, per_page=limit * SUGGEST_CANDIDATES), user=user)
        found = [Suggestion(h.type, h.title, h.url) for h in results.hits]
        return suggestions_ranked(results.did_you_mean or q, found, limit=limit)
