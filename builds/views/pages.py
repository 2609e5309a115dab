"""`/builds/`: source builds — list, new build form, build detail with its live log,
and the download of a built archive. Anyone signed in sees their own builds (staff
see all); building needs the operator or admin role in a team, or staff."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe

from builds.forms import BuildForm
from builds.selectors import (
    build_get_visible,
    effective_resources,
    may_build,
    visible_builds,
)
from builds.services.builds import build_archive_path, build_create
from market.selectors.browse import publishable_markets
from portal.actors import actor_from_request
from portal.services.errors import Forbidden, ServiceError


@login_required
@require_safe
def build_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(visible_builds(request.user), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "builds/index.html",
        {"page": page, "may_build": may_build(request.user)},
    )


@login_required
def build_new(request: HttpRequest) -> HttpResponse:
    if not may_build(request.user):
        raise PermissionDenied("Building needs the operator or admin role in a team.")
    markets = publishable_markets(request.user)
    form = BuildForm(request.POST or None, request.FILES or None, markets=markets)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            upload = data["archive"]
            try:
                build = build_create(
                    actor=actor_from_request(request),
                    archive=upload.read() if upload else None,
                    filename=upload.name if upload else "",
                    git_url=(data["git_url"] or "").strip(),
                    ref=data["ref"] or "",
                    profile_name=data["profile"].name if data["profile"] else None,
                    overrides=data["overrides"],
                    strict=data["strict"],
                    publish_market=data["publish_market"].name if data["publish_market"] else None,
                )
            except Forbidden as exc:
                form.add_error(None, exc.message)
                status = 403
            except ServiceError as exc:
                form.add_error(None, exc.message)
                status = 400
            else:
                return redirect("build-detail", build_id=build.pk)
        else:
            too_large = any(e.code == "too_large" for e in form.errors.as_data().get("archive", []))
            status = 413 if too_large else 400
    return render(
        request,
        "builds/new.html",
        {"form": form, "resources": effective_resources()},
        status=status,
    )


@login_required
@require_safe
def build_detail(request: HttpRequest, build_id: int) -> HttpResponse:
    build = build_get_visible(user=request.user, build_id=build_id)
    return render(request, "builds/detail.html", {"build": build, "title": f"Build #{build.pk}"})


@login_required
@require_safe
def build_download(request: HttpRequest, build_id: int) -> FileResponse:
    build = build_get_visible(user=request.user, build_id=build_id)
    path = build_archive_path(build)
    if path is None or not path.is_file():
        raise Http404("This build kept no archive.")
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=build.archive_name,
        content_type="application/gzip",
    )
