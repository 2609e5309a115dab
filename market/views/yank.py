"""`/market/<market>/<app>/...`: the app page's yank and advisory dialogs (SPEC 14).

Each is a POST of a small form to the service the API and the CLI use; the
service checks the publisher (a refusal is a 403), a refused input comes back
as a message on the app page, nothing changed."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from market.selectors.catalogue import app_get
from market.services.yank import (
    IndexChange,
    advisory_add,
    advisory_remove,
    version_unyank,
    version_yank,
)
from market.storage.base import StorageError
from portal.actors import actor_from_request
from portal.services.errors import Forbidden, NotFound, ServiceError


def _back(market: str, app: str, *, version: str = "", tab: str = "versions") -> HttpResponse:
    url = reverse("market-app", args=[market, app])
    query = f"?version={version}" if version else ""
    return redirect(f"{url}{query}#app-{tab}")


def _run(request: HttpRequest, done: str, call: Callable[[], IndexChange]) -> None:
    """Run the service call, turning its refusals into what a page answers."""
    try:
        result = call()
    except Forbidden as exc:
        raise PermissionDenied(exc.message) from None
    except NotFound as exc:
        raise Http404(exc.message) from None
    except ServiceError as exc:
        messages.error(request, exc.message)
        return
    except StorageError as exc:
        messages.error(request, f"The market's storage refused the change: {exc}")
        return
    messages.success(request, done if result.changed else f"{done} (it already was).")


@login_required
@require_POST
def version_yank_view(request: HttpRequest, market: str, app: str, version: str) -> HttpResponse:
    found = app_get(market=market, name=app)
    actor = actor_from_request(request)
    if request.POST.get("action") == "unyank":
        _run(
            request,
            f"{app} {version} is offered to installs again.",
            lambda: version_unyank(actor=actor, market=found.market, app=app, version=version),
        )
    else:
        reason = request.POST.get("reason", "")
        _run(
            request,
            f"{app} {version} is yanked.",
            lambda: version_yank(
                actor=actor, market=found.market, app=app, version=version, reason=reason
            ),
        )
    return _back(market, app, version=version)


@login_required
@require_POST
def advisory_add_view(request: HttpRequest, market: str, app: str) -> HttpResponse:
    found = app_get(market=market, name=app)
    fields = ("id", "severity", "affected", "fixed", "summary")
    advisory = {name: request.POST.get(name, "") for name in fields}
    _run(
        request,
        f"Advisory {advisory['id']} is published.",
        lambda: advisory_add(
            actor=actor_from_request(request), market=found.market, app=app, advisory=advisory
        ),
    )
    return _back(market, app, tab="advisories")


@login_required
@require_POST
def advisory_remove_view(
    request: HttpRequest, market: str, app: str, advisory: str
) -> HttpResponse:
    found = app_get(market=market, name=app)
    _run(
        request,
        f"Advisory {advisory} is withdrawn.",
        lambda: advisory_remove(
            actor=actor_from_request(request), market=found.market, app=app, advisory_id=advisory
        ),
    )
    return _back(market, app, tab="advisories")
