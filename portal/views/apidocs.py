"""Interactive API documentation: Swagger UI, served from static/, reading `/api/v1/schema/`."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse


@login_required
def api_docs(request: HttpRequest) -> HttpResponse:
    # The schema endpoint needs an authenticated caller too: Swagger UI fetches it
    # from the same origin, so the session cookie goes along.
    schema_url = reverse("api-schema") + "?format=json"
    return render(request, "portal/api_docs.html", {"schema_url": schema_url})
