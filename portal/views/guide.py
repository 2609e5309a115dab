"""The Docs section: `/docs/` (the user guide and the reference below it) and
`/docs/guide/<page>/`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from portal.guide import GuidePageNotFound, guide_page, guide_pages


@login_required
def docs_index(request: HttpRequest) -> HttpResponse:
    return render(request, "docs/index.html", {"pages": guide_pages(), "current": ""})


@login_required
def guide_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        page = guide_page(slug)
    except GuidePageNotFound:
        raise Http404("No such guide page") from None
    return render(
        request,
        "docs/guide.html",
        {
            "page": page,
            # Repository Markdown, sanitised by nh3 in guide_page.
            "html": mark_safe(page.html),  # noqa: S308
            "pages": guide_pages(),
            "current": page.slug,
            "breadcrumbs": [("Docs", reverse("docs-index")), (page.title, "")],
        },
    )
