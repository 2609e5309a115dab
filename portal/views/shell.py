from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from portal.selectors.health import health_report


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html")


def healthz(request: HttpRequest) -> JsonResponse:
    report = health_report()
    return JsonResponse(report, status=200 if report["database"]["ok"] else 503)
