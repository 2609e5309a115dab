"""`/instances/`: the namespaces apps install into. Installing itself arrives with
the workflow issue; until then the page shows the user's namespaces and says so."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from market.selectors.namespaces import namespace_list


@login_required
def instance_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "market/instances.html",
        {"namespaces": namespace_list(user=request.user)},
    )
