"""Build search documents from the database: one function per kind.

Each takes the keys index_later was called with and returns what to write: the
documents of the rows that exist, and the keys whose rows are gone. A fixed number
of queries per batch, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from deployments.models import Instance, Namespace
from deployments.workflow.manifests import resources_of
from market.models import App, AppDoc, AppVersion
from market.prose import doc_slug, html_text, markdown_text
from market.selectors.advisories import (
    VersionFlags,
    app_flags,
    version_flags,
    with_version_flags,
)
from portal.components import ComponentNotFound, component_names, load_component

# README and doc bodies beyond this are not indexed: the start says what a page is about.
BODY_LIMIT = 30_000


@dataclass
class Built:
    """Documents to write per kind ``{kind: [(id, source)]}`` and, per kind, the
    documents that must go: ``{kind: (field, keys, keep_ids)}`` deletes documents
    whose ``field`` is in ``keys`` except those with an id in ``keep_ids``."""

    docs: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    stale: dict[str, tuple[str, list[str], list[str]]] = field(default_factory=dict)

    def add(self, kind: str, doc_id: str, source: dict[str, Any]) -> None:
        self.docs.setdefault(kind, []).append((doc_id, source))

    def count(self) -> int:
        return sum(len(rows) for rows in self.docs.values())


def _int_keys(keys: Iterable[str | int]) -> list[int]:
    out = []
    for key in keys:
        try:
            out.append(int(key))
        except (TypeError, ValueError):
            continue
    return out


def app_url(market: str, name: str) -> str:
    """``/market/<market>/<app>/`` (market.urls); formatted, not reversed: reverse()
    costs more than building the rest of the document."""
    return f"/market/{market}/{name}/"


def _missing(pks: list[int], present: list[int]) -> list[str]:
    """Keys whose rows are gone: their documents are deleted (by ``pk``: ids are
    natural keys, which a deleted row no longer tells)."""
    return [str(pk) for pk in sorted(set(pks) - set(present))]


APP_FIELDS = (
    "pk", "name", "title", "summary", "category", "keywords", "latest", "updated", "readme",
    "market__name", "market__is_private", "advisories",
)  # fmt: skip


def flag_fields(flags: VersionFlags) -> dict[str, Any]:
    """The yanked/advisory fields of a document (search.documents), from the flags
    of a version (an instance's) or of an app's advisories."""
    words = (["yanked"] if flags.yanked else []) + (["advisory"] if flags.advisories else [])
    return {
        "yanked": flags.yanked,
        "advisory": flags.worst_severity,
        "advisories": " ".join(a["id"] for a in flags.advisories),
        "flags": words,
    }


def app_source(app: dict[str, Any], manifest: dict[str, Any]) -> dict[str, Any]:
    """The document of one app: a row of ``App.objects.values(*APP_FIELDS)`` (rows,
    not model instances: instantiating them was most of the cost of a batch)."""
    maintainers = [
        str(m.get("name") or "") if isinstance(m, dict) else str(m)
        for m in manifest.get("maintainers") or []
    ]
    keywords = app["keywords"]
    market = app["market__name"]
    return {
        "type": "app",
        "pk": str(app["pk"]),
        "name": app["name"],
        "title": app["title"] or app["name"],
        "summary": app["summary"],
        "body": "\n".join(
            part
            for part in (str(manifest.get("description") or ""), markdown_text(app["readme"]))
            if part
        )[:BODY_LIMIT],
        "keywords": [str(k) for k in keywords] if isinstance(keywords, list) else [],
        "maintainers": " ".join(m for m in maintainers if m),
        "category": app["category"],
        "market": market,
        "market_private": app["market__is_private"],
        "version": app["latest"],
        "audience": "users",
        "url": app_url(market, app["name"]),
        "updated": app["updated"].isoformat() if app["updated"] else None,
        **flag_fields(app_flags(app["advisories"])),
    }


def appdoc_source(doc: AppDoc, app: dict[str, Any]) -> dict[str, Any]:
    # The app's own name and title stay out of the searched fields: a search for the
    # app must find the app first, not each of its pages.
    market = app["market__name"]
    return {
        "type": "appdoc",
        "pk": str(doc.pk),
        "app_pk": str(app["pk"]),
        "app": app["name"],
        "app_title": app["title"] or app["name"],
        "path": doc.path,
        "name": doc_slug(doc.path),
        "title": doc.title,
        # Text, not Markdown: highlights quote it, and "**" or "](" are no words.
        "summary": markdown_text(doc.body, prose_only=True)[:200],
        "body": markdown_text(doc.body)[:BODY_LIMIT],
        "category": app["category"],
        "market": market,
        "version": app["latest"],
        "audience": "users",
        "url": f"{app_url(market, app['name'])}docs/{doc_slug(doc.path)}",
    }


def apps_build(keys: Iterable[str | int]) -> Built:
    """Apps with their docs pages. Three queries."""
    pks = _int_keys(keys)
    built = Built()
    apps = list(App.objects.filter(pk__in=pks).values(*APP_FIELDS))
    docs: dict[int, list[AppDoc]] = {}
    for doc in AppDoc.objects.filter(app_id__in=pks).order_by("app_id", "path"):
        docs.setdefault(doc.app_id, []).append(doc)
    latest = {app["pk"]: app["latest"] for app in apps}
    # Two keys of each manifest, extracted by the database: not the whole document.
    manifests = {
        app_id: {"description": description, "maintainers": maintainers}
        for app_id, version, description, maintainers in AppVersion.objects.filter(
            app_id__in=latest, version__in=set(latest.values())
        )
        .order_by()
        .values_list("app_id", "version", "manifest__description", "manifest__maintainers")
        if latest[app_id] == version  # not another app's latest version number
    }
    keep_docs: list[str] = []
    for app in apps:
        app_id = f"{app['market__name']}/{app['name']}"
        built.add("app", app_id, app_source(app, manifests.get(app["pk"]) or {}))
        for doc in docs.get(app["pk"], []):
            keep_docs.append(f"{app_id}/{doc.path}")
            built.add("appdoc", f"{app_id}/{doc.path}", appdoc_source(doc, app))
    built.stale["app"] = ("pk", _missing(pks, list(latest)), [])
    # Pages removed from an app that still exists are found through their app.
    built.stale["appdoc"] = ("app_pk", [str(pk) for pk in pks], keep_docs)
    return built


def value_paths(values: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of the leaves of a values tree: never the values themselves."""
    if isinstance(values, dict):
        for key, child in values.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(child, dict) and child:
                yield from value_paths(child, path)
            else:
                yield path
    elif prefix:
        yield prefix


def manifest_resources(manifests: Any) -> list[str]:
    """``Kind/name`` of every object in a revision's rendered (masked) manifests."""
    if not isinstance(manifests, dict):
        return []
    return sorted(
        {
            f"{found['kind']}/{found['name']}"
            for found in resources_of(manifests)
            if found["kind"] not in ("", "?") and found["name"] != "?"
        }
    )


def instance_source(instance: Instance) -> dict[str, Any]:
    revision = instance.current_revision
    namespace = instance.namespace
    return {
        "type": "instance",
        "pk": str(instance.pk),
        "name": instance.name,
        "title": f"{instance.name} in {namespace.name}",
        "summary": f"{instance.app_name} {instance.version} from {instance.market.name}",
        "status_message": instance.status_message,
        "app": instance.app_name,
        "market": instance.market.name,
        "namespace": namespace.name,
        "team": namespace.team.name,
        "team_id": str(namespace.team_id),
        "audience": "team",
        "status": instance.status,
        # The live state's summary (SPEC section 9), so "degraded" or "drifted" finds it.
        "live_health": instance.live_health,
        "live_sync": instance.live_sync,
        "version": instance.version,
        "value_keys": sorted(set(value_paths(revision.values_masked))) if revision else [],
        "resources": manifest_resources(revision.manifests_masked) if revision else [],
        "url": f"/instances/{namespace.name}/{instance.name}/",
        "updated": instance.updated_at.isoformat(),
        **flag_fields(version_flags(instance)),
    }


def instances_build(keys: Iterable[str | int]) -> Built:
    pks = _int_keys(keys)
    built = Built()
    rows = with_version_flags(
        Instance.objects.filter(pk__in=pks).select_related(
            "namespace", "namespace__team", "market", "current_revision"
        )
    )
    present = []
    for instance in rows:
        doc_id = f"{instance.namespace.name}/{instance.name}"
        present.append(instance.pk)
        built.add("instance", doc_id, instance_source(instance))
    built.stale["instance"] = ("pk", _missing(pks, present), [])
    return built


def namespaces_build(keys: Iterable[str | int]) -> Built:
    pks = _int_keys(keys)
    built = Built()
    present = []
    for ns in Namespace.objects.filter(pk__in=pks).select_related("team"):
        present.append(ns.pk)
        built.add(
            "namespace",
            ns.name,
            {
                "type": "namespace",
                "pk": str(ns.pk),
                "name": ns.name,
                "title": ns.name,
                "summary": ns.description,
                "namespace": ns.name,
                "team": ns.team.name,
                "team_id": str(ns.team_id),
                "audience": "team",
                "url": f"/instances/?namespace={ns.name}",
                "updated": ns.created_at.isoformat(),
            },
        )
    built.stale["namespace"] = ("pk", _missing(pks, present), [])
    return built


def components_build(keys: Iterable[str | int]) -> Built:
    names = [str(k) for k in keys]
    built = Built()
    present = []
    for name in names:
        try:
            doc = load_component(name)
        except ComponentNotFound:
            continue
        present.append(name)
        built.add(
            "component",
            name,
            {
                "type": "component",
                "pk": name,
                "name": name,
                "title": doc.title,
                "summary": doc.summary,
                "body": html_text(doc.body_html)[:BODY_LIMIT],
                "audience": "users",
                "url": doc.url,
            },
        )
    built.stale["component"] = ("pk", sorted(set(names) - set(present)), [])
    return built


BUILDERS = {
    "app": apps_build,
    "instance": instances_build,
    "namespace": namespaces_build,
    "component": components_build,
}


def _rows(kind: str) -> QuerySet[Any]:
    return {
        "app": App.objects.all(),
        "instance": Instance.objects.all(),
        "namespace": Namespace.objects.all(),
    }[kind]


def all_keys(kind: str) -> Iterator[str]:
    """Every key of a kind, for a full rebuild."""
    if kind == "component":
        yield from component_names()
        return
    for pk in _rows(kind).order_by("pk").values_list("pk", flat=True).iterator(2000):
        yield str(pk)


def kind_has_rows(kind: str) -> bool:
    return bool(component_names()) if kind == "component" else _rows(kind).exists()
