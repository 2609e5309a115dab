"""The component library's documentation pages: `/docs/components/` and one page per component."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.safestring import mark_safe

from portal.components import (
    ComponentNotFound,
    Example,
    list_components,
    load_component,
    render_example,
    suggest_components,
)


@login_required
def component_index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "docs/components/index.html",
        {
            "components": list_components(),
            "breadcrumbs": [("Docs", reverse("docs-index")), ("UI components", "")],
        },
    )


@login_required
def component_detail(request: HttpRequest, name: str) -> HttpResponse:
    try:
        doc = load_component(name)
    except ComponentNotFound:
        raise Http404("No such component") from None
    sections: list[dict[str, Any]] = []
    for section in doc.sections:
        if isinstance(section, Example):
            sections.append(
                {
                    "example": section,
                    "rendered": render_example(section, request),
                    "number": len([s for s in sections if "example" in s]) + 1,
                }
            )
        else:
            # Sanitised by nh3 in load_component.
            sections.append({"html": mark_safe(section)})  # noqa: S308
    return render(
        request,
        "docs/components/detail.html",
        {
            "doc": doc,
            "sections": sections,
            "components": list_components(),
            "breadcrumbs": [
                ("Docs", reverse("docs-index")),
                ("UI components", reverse("component-index")),
                (doc.title, ""),
            ],
        },
    )


@login_required
def component_suggest(request: HttpRequest) -> JsonResponse:
    """Suggestions for the search-box example: component docs matching ``?q=``."""
    return JsonResponse({"results": suggest_components(request.GET.get("q", ""))})
