"""The audit page: every recorded change, filtered and paginated. Staff only;
to anyone else the page does not exist (404), like every object they may not see."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from portal.forms import AuditFilterForm
from portal.permissions import is_staff
from portal.selectors.audit import AuditFilters, audit_event_list, audit_facets

PAGE_SIZE = 50

COLUMNS = [
    {"key": "created_at", "label": "When", "kind": "datetime"},
    {"key": "actor", "label": "Who"},
    {"key": "via", "label": "Via"},
    {"key": "action", "label": "Action", "kind": "code"},
    {"key": "target", "label": "Target"},
    {"key": "ip_address", "label": "From"},
    {"key": "detail", "label": "Detail", "kind": "code"},
]


@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    if not is_staff(request.user):
        raise Http404("No such page.")
    form = AuditFilterForm(request.GET or None)
    filters = AuditFilters()
    if form.is_bound and form.is_valid():
        filters = AuditFilters(**form.cleaned_data)
    events = audit_event_list(user=request.user, filters=filters)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "created_at": event.created_at,
            "actor": event.actor_label
            + (f" (token {event.token_label})" if event.token_label else ""),
            "via": event.via,
            "action": event.action,
            "target": f"{event.target_type} {event.target_repr}".strip(),
            "ip_address": event.ip_address or "",
            "detail": json.dumps(event.detail, sort_keys=True) if event.detail else "",
        }
        for event in page.object_list
    ]
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(
        request,
        "audit/list.html",
        {"form": form, "page": page, "rows": rows, "columns": COLUMNS, "facets": audit_facets()},
        status=status,
    )
