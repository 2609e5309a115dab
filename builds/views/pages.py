"""`/builds/`: source builds arrive with the builds issue; until then the page
shows how to build a package from the command line."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def build_list(request: HttpRequest) -> HttpResponse:
    return render(request, "builds/index.html")
