"""Every Elasticsearch document of site search, with its mapping and analysis.

One index per kind, each behind an alias ``<prefix>-<kind>`` (search.client). Ids
are natural keys (``market/app``, ``namespace/instance``...); ``pk`` holds the
database key that index_later is called with, so a deleted row's document can
be found and removed.

Analysis must work on a plain Elasticsearch and on the test server, which lacks
the analysis-common module (no ``cjk`` analyzer, no stemmer, no edge_ngram).
The mappings only name the analyzers ``text_en`` and ``text_zh``; their
definitions are chosen when an index is created (:func:`analysis_settings`):
with analysis-common, English text is stemmed and Chinese text is split into
CJK bigrams; without it, English is lowercased with stop words and Chinese is
indexed one character per token (the standard analyzer), which phrase queries
still match exactly. Autocomplete uses prefix-indexed text fields
(``index_prefixes``) and ``match_bool_prefix``, both core: ``search_as_you_type``
needs the mapper-extras module, which the test server lacks as well.
"""

from __future__ import annotations

from typing import Any

from elasticsearch_dsl import Boolean, Date, Document, Keyword, Text

KINDS = ("app", "appdoc", "instance", "namespace", "component")
# What index_later is called with for each kind: app docs follow their app.
INDEXED_KINDS = ("app", "instance", "namespace", "component")


def _text(**extra: Any) -> Text:
    return Text(analyzer="text_en", fields={"zh": Text(analyzer="text_zh")}, **extra)


def _title() -> Text:
    return Text(
        analyzer="text_en",
        fields={
            "zh": Text(analyzer="text_zh"),
            "raw": Keyword(normalizer="lowercase"),
            # Prefixes indexed for match_bool_prefix as the user types (core Elasticsearch:
            # search_as_you_type lives in the mapper-extras module, absent here too).
            "suggest": Text(analyzer="standard", index_prefixes={"min_chars": 1, "max_chars": 10}),
        },
    )


class SiteDocument(Document):
    """Fields every kind has: what results, facets and the permission filter read."""

    type = Keyword()
    pk = Keyword()
    name = _title()
    title = _title()
    summary = _text()
    body = _text()
    keywords = Text(analyzer="text_en", fields={"raw": Keyword()})
    url = Keyword(index=False)
    # Facets.
    category = Keyword()
    market = Keyword()
    namespace = Keyword()
    status = Keyword()
    version = Keyword()
    # Permissions: "users" — every signed-in user (the catalogue is open to all
    # of them); "team" — members of team_id and staff.
    audience = Keyword()
    team_id = Keyword()
    updated = Date()


class AppDocument(SiteDocument):
    maintainers = _text()
    market_private = Boolean()
    # Yanked versions and advisories (SPEC 14): the yank reason, the worst
    # severity, the advisory ids, and the words a search for them types
    # ("yanked", "advisory"). An older index lacks them until search_rebuild.
    yanked = _text()
    advisory = Keyword()
    advisories = Text(analyzer="standard", fields={"raw": Keyword()})
    flags = Keyword()


class AppDocPage(SiteDocument):
    app_pk = Keyword()
    app = Keyword()
    app_title = Keyword(index=False)
    path = Keyword()


class InstanceDocument(SiteDocument):
    app = Keyword()
    team = Keyword()
    status_message = _text()
    live_health = Keyword()
    live_sync = Keyword()
    # Paths of the values only (``ingress.host``): values may hold secrets.
    value_keys = Text(analyzer="standard", fields={"raw": Keyword()})
    resources = Text(analyzer="standard", fields={"raw": Keyword()})
    # Yanked versions and advisories (SPEC 14): the yank reason, the worst
    # severity, the advisory ids, and the words a search for them types
    # ("yanked", "advisory"). An older index lacks them until search_rebuild.
    yanked = _text()
    advisory = Keyword()
    advisories = Text(analyzer="standard", fields={"raw": Keyword()})
    flags = Keyword()


class NamespaceDocument(SiteDocument):
    team = Keyword()


class ComponentDocument(SiteDocument):
    pass


DOCUMENTS: dict[str, type[SiteDocument]] = {
    "app": AppDocument,
    "appdoc": AppDocPage,
    "instance": InstanceDocument,
    "namespace": NamespaceDocument,
    "component": ComponentDocument,
}


def analysis_settings(*, cjk: bool, stemmer: bool) -> dict[str, Any]:
    """The ``analysis`` block of an index's settings for what the server offers."""
    en_filters = ["lowercase", "english_stop"]
    filters: dict[str, Any] = {"english_stop": {"type": "stop", "stopwords": "_english_"}}
    if stemmer:
        filters["english_stemmer"] = {"type": "stemmer", "language": "english"}
        filters["english_possessive"] = {"type": "stemmer", "language": "possessive_english"}
        en_filters = ["english_possessive", "lowercase", "english_stop", "english_stemmer"]
    return {
        "filter": filters,
        "analyzer": {
            "text_en": {"type": "custom", "tokenizer": "standard", "filter": en_filters},
            "text_zh": {"type": "cjk"} if cjk else {"type": "standard", "stopwords": "_none_"},
        },
    }


def index_body(kind: str, *, cjk: bool, stemmer: bool) -> dict[str, Any]:
    """Settings and mappings for a new index of `kind`."""
    mapping = DOCUMENTS[kind]._doc_type.mapping.to_dict()
    return {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "analysis": analysis_settings(cjk=cjk, stemmer=stemmer),
        },
        "mappings": {"dynamic": "false", **mapping},
    }
