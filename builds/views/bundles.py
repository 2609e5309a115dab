"""`/builds/bundles/`: offline bundles. Anyone signed in may export apps they can
browse (the catalogue is visible to all); staff import a bundle as a new market."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from builds.forms import BundleExportForm, BundleImportForm
from builds.services.bundles import bundle_export, bundle_import
from market.services.fetch import ArchiveMismatch
from market.storage.base import StorageError
from portal.actors import actor_from_request
from portal.permissions import is_staff, require_staff
from portal.services.errors import ServiceError


def _render(request: HttpRequest, status: int = 200, **forms: object) -> HttpResponse:
    context = {
        "export_form": forms.get("export_form") or BundleExportForm(),
        "import_form": forms.get("import_form") or BundleImportForm(),
        "is_staff": is_staff(request.user),
    }
    return render(request, "builds/bundles.html", context, status=status)


@login_required
def bundle_page(request: HttpRequest) -> HttpResponse | FileResponse:
    if request.method != "POST":
        # The app page's "Offline bundle" button names the market and the app.
        initial = {key: request.GET[key] for key in ("market", "apps") if key in request.GET}
        return _render(request, export_form=BundleExportForm(initial=initial))
    form = BundleExportForm(request.POST)
    if not form.is_valid():
        return _render(request, 400, export_form=form)
    market = form.cleaned_data["market"]
    out = Path(tempfile.mkdtemp()) / f"{market.name}-bundle.tgz"
    try:
        result = bundle_export(market=market, requests=form.cleaned_data["apps"], out=out)
    except ServiceError as exc:
        form.add_error("apps", exc.message)
        return _render(request, 400, export_form=form)
    except (ArchiveMismatch, StorageError) as exc:
        form.add_error(None, f"An archive could not be fetched: {exc}")
        return _render(request, 503, export_form=form)
    handle = result.path.open("rb")
    # The file is already open: removing its name frees the space once it is sent.
    result.path.unlink()
    result.path.parent.rmdir()
    return FileResponse(
        handle, as_attachment=True, filename=out.name, content_type="application/gzip"
    )


@login_required
def bundle_import_view(request: HttpRequest) -> HttpResponse:
    require_staff(request.user)
    if request.method != "POST":
        return redirect("build-bundles")
    form = BundleImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, 400, import_form=form)
    try:
        market = bundle_import(
            actor=actor_from_request(request),
            name=form.cleaned_data["name"],
            data=form.cleaned_data["bundle"].read(),
        )
    except ServiceError as exc:
        form.add_error("bundle", exc.message)
        return _render(request, 400, import_form=form)
    messages.success(
        request, f"Bundle imported as market {market.name}: {market.apps.count()} apps."
    )
    return redirect(f"/market/?market={market.name}")
