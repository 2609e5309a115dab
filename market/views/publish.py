"""`/market/publish/`: upload a package into a market from the browser.

The form goes through package_publish, the service the API and the CLI use; a
refusal is shown next to the field it concerns, in the service's own words."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from market.forms import PublishForm
from market.index import VersionConflict
from market.package import SIZE_CODES, PackageRefused
from market.selectors.browse import publishable_markets
from market.services.publish import package_publish
from market.services.refresh import market_refresh_now
from market.storage.base import ReadOnlyStorage, StorageError, TransientStorageError
from portal.actors import actor_from_request


def _render(
    request: HttpRequest, form: PublishForm, status: int = 200, **extra: object
) -> HttpResponse:
    markets = form.fields["market"].queryset  # type: ignore[attr-defined]
    # A refused POST keeps the form, so its errors show, even with no market to offer.
    context = {"form": form, "show_form": form.is_bound or markets.exists(), **extra}
    return render(request, "market/publish.html", context, status=status)


@login_required
def publish(request: HttpRequest) -> HttpResponse:
    markets = publishable_markets(request.user)
    if request.method != "POST":
        initial = {}
        if request.GET.get("market"):
            initial["market"] = markets.filter(name=request.GET["market"]).first()
        return _render(request, PublishForm(markets=markets, initial=initial))

    form = PublishForm(request.POST, request.FILES, markets=markets)
    if not form.is_valid():
        too_large = any(e.code == "too_large" for e in form.errors.as_data().get("archive", []))
        return _render(request, form, status=413 if too_large else 400)

    market = form.cleaned_data["market"]
    upload = form.cleaned_data["archive"]
    try:
        result = package_publish(
            actor=actor_from_request(request),
            market=market,
            data=upload.read(),
            filename=upload.name,
        )
    except PackageRefused as exc:
        form.add_error("archive", f"Refused: {exc.reason}")
        return _render(request, form, status=413 if exc.code in SIZE_CODES else 400)
    except VersionConflict as exc:
        form.add_error("archive", f"Conflict: {exc}.")
        return _render(request, form, status=409, conflict=str(exc))
    except PermissionDenied:
        form.add_error("market", "You may not publish to that market.")
        return _render(request, form, status=403)
    except ReadOnlyStorage as exc:
        form.add_error("market", f"{exc}.")
        return _render(request, form, status=400)
    except TransientStorageError as exc:
        form.add_error(None, f"The market's storage is unavailable right now ({exc}). Try again.")
        return _render(request, form, status=503)
    except StorageError as exc:
        form.add_error(None, f"The market's storage refused the write: {exc}.")
        return _render(request, form, status=400)

    refreshed = market_refresh_now(market=market, apps=[result.name])
    if result.created:
        messages.success(request, f"Published {result.name} {result.version} to {market.name}.")
    else:
        messages.info(
            request,
            f"{result.name} {result.version} was already published to {market.name} "
            "with the same content; nothing changed.",
        )
    if not refreshed.synced:
        messages.warning(
            request,
            f"The catalogue could not be refreshed yet ({refreshed.error}); "
            "the background sync will show the new version shortly.",
        )
        return redirect("market-catalogue")
    return redirect("market-app", market=market.name, app=result.name)
