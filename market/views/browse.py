"""The catalogue, app pages, app docs pages and app icons.

Each page makes a fixed number of queries whatever the size of the catalogue:
the selectors fetch whole pages at once, never a row per app."""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from market.forms import SORT_CHOICES, CatalogueFilterForm
from market.index import ADVISORY_SEVERITIES
from market.models import App, AppVersion
from market.prose import doc_path, doc_slug, docs_link_resolver, render_markdown
from market.selectors.advisories import VersionFlags, advisories_sorted, app_versions_flags
from market.selectors.browse import (
    app_dependencies,
    catalogue_page,
    publishable_markets,
    sort_versions,
)
from market.selectors.catalogue import (
    app_get,
    app_offers,
    catalogue_categories,
    market_names,
)
from market.selectors.installed import installed_by_app, installed_mark
from market.services.details import version_values
from market.services.publish import can_publish
from portal.models import Role
from portal.permissions import teams_with_role
from portal.querystrings import query_with

ICON_TYPES = frozenset({"image/svg+xml", "image/png"})
# An SVG is a document that may carry script: served on its own it must not run any.
ICON_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _query(params: QueryDict, **changes: str | None) -> str:
    return query_with(params, changes)


@login_required
@require_safe
def catalogue(request: HttpRequest) -> HttpResponse:
    categories = catalogue_categories()
    form = CatalogueFilterForm(request.GET, categories=categories, markets=market_names())
    filters = form.filters()
    page = catalogue_page(
        q=filters["q"],
        category=filters["category"],
        market=filters["market"],
        sort=filters["sort"],
        page=request.GET.get("page"),
    )
    installed_mark(user=request.user, entries=page.object_list)
    params = request.GET
    context: dict[str, Any] = {
        "form": form,
        "filters": filters,
        "filtered": any(filters[key] for key in ("q", "category", "market")),
        "page": page,
        "entries": page.object_list,
        "previous_url": _query(params, page=str(page.previous_page_number()))
        if page.has_previous()
        else "",
        "next_url": _query(params, page=str(page.next_page_number())) if page.has_next() else "",
        "sorts": [
            {
                "value": value,
                "label": label,
                "url": _query(params, sort=value, page=None),
                "active": filters["sort"] == value,
            }
            for value, label in SORT_CHOICES
        ],
        "can_publish": publishable_markets(request.user).exists(),
    }
    return render(request, "market/catalogue.html", context)


def _docs_url(market: str, app: str) -> Any:
    def url(slug: str) -> str:
        return reverse("market-app-doc", args=[market, app, slug])

    return url


def _version_row(version: AppVersion, latest: str, flags: VersionFlags) -> dict[str, Any]:
    return {
        "version": version.version,
        "flags": flags,
        "url": f"?version={version.version}#app-versions",
        "is_latest": version.version == latest,
        "published": version.published,
        "publisher": version.publisher,
        "digest": version.digest,
        "digest_short": version.digest.removeprefix("sha256:")[:12],
        "size": version.size,
    }


def _manifest_summary(version: AppVersion) -> dict[str, Any]:
    manifest = version.manifest or {}
    homepage = str(manifest.get("homepage") or "")
    maintainers = [
        {"name": str(m.get("name") or ""), "email": str(m.get("email") or "")}
        for m in manifest.get("maintainers") or []
        if isinstance(m, dict)
    ]
    components = [
        {
            "name": str(c.get("name") or ""),
            "templates": [str(t) for t in c.get("templates") or []],
        }
        for c in manifest.get("components") or []
        if isinstance(c, dict)
    ]
    return {
        "title": str(manifest.get("title") or ""),
        "summary": str(manifest.get("summary") or ""),
        "description": str(manifest.get("description") or ""),
        "license": str(manifest.get("license") or ""),
        # Only web links become links: a manifest may say anything.
        "homepage": homepage,
        "homepage_is_link": homepage.startswith(("https://", "http://")),
        "maintainers": maintainers,
        "keywords": [str(k) for k in manifest.get("keywords") or []],
        "category": str(manifest.get("category") or ""),
        "components": components,
    }


@login_required
@require_safe
def app_detail(request: HttpRequest, market: str, app: str) -> HttpResponse:
    found = app_get(market=market, name=app)
    versions = sort_versions(list(found.versions.all()))
    if not versions:
        raise Http404("This app has no versions.")
    asked = request.GET.get("version")
    latest = next((v for v in versions if v.version == found.latest), versions[0])
    selected = latest
    if asked:
        selected = next((v for v in versions if v.version == asked), None)  # type: ignore[assignment]
        if selected is None:
            raise Http404("No such version.")
    docs = list(found.docs.all())
    docs_url = _docs_url(found.market.name, found.name)
    resolver = docs_link_resolver(docs_url, {d.path for d in docs})
    flags = app_versions_flags(versions=versions, advisories=found.advisories)
    context = {
        "app": found,
        "market": found.market,
        "readme_html": render_markdown(found.readme, resolve_link=resolver),
        "versions": [_version_row(v, found.latest, flags[v.version]) for v in versions],
        "selected": selected,
        "selected_flags": flags[selected.version],
        "advisories": advisories_sorted(found.advisories),
        "severities": ADVISORY_SEVERITIES,
        # The unyank dialog's hidden field: the same for every row.
        "unyank_fields": {"action": "unyank"},
        "selected_is_latest": selected.version == latest.version,
        "about": _manifest_summary(selected),
        "dependencies": app_dependencies(app=found, version=selected),
        "values": version_values(version=selected),
        "docs": [{"doc": d, "url": docs_url(doc_slug(d.path))} for d in docs],
        "offers": list(app_offers(name=found.name)),
        "installed": installed_by_app(user=request.user, names=[found.name]).get(found.name, []),
        "can_publish": can_publish(request.user, found.market),
        "can_install": teams_with_role(request.user, Role.OPERATOR).exists(),
        "active_tab": "versions" if asked else "readme",
    }
    return render(request, "market/app_detail.html", context)


@login_required
@require_safe
def app_doc(request: HttpRequest, market: str, app: str, slug: str) -> HttpResponse:
    found = app_get(market=market, name=app)
    docs = list(found.docs.all())
    path = doc_path(slug)
    doc = next((d for d in docs if d.path == path), None)
    if doc is None:
        raise Http404("No such docs page.")
    docs_url = _docs_url(found.market.name, found.name)
    resolver = docs_link_resolver(docs_url, {d.path for d in docs}, current=doc.path)
    context = {
        "app": found,
        "market": found.market,
        "doc": doc,
        "body_html": render_markdown(doc.body, resolve_link=resolver),
        "docs": [
            {"doc": d, "url": docs_url(doc_slug(d.path)), "current": d.pk == doc.pk} for d in docs
        ],
    }
    return render(request, "market/app_doc.html", context)


def _etag_matches(request: HttpRequest, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    return any(part.strip() in (etag, "*") for part in header.split(","))


@login_required
@require_safe
def app_icon(request: HttpRequest, market: str, app: str) -> HttpResponse:
    row = App.objects.filter(market__name=market, name=app).values("icon", "icon_type").first()
    if row is None or not row["icon"] or row["icon_type"] not in ICON_TYPES:
        raise Http404("No icon.")
    data = bytes(row["icon"])
    etag = f'"{hashlib.sha256(data).hexdigest()[:40]}"'
    if _etag_matches(request, etag):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(data, content_type=row["icon_type"])
        response["Content-Length"] = str(len(data))
    response["ETag"] = etag
    # Behind a login: private caches only, revalidated (cheaply, by ETag) after an hour.
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = ICON_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    patch_vary_headers(response, ["Cookie"])
    return response
