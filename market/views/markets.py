"""`/market/markets/`: the subscribed markets; staff add them and ask for syncs.

Every signed-in user sees which markets feed the catalogue and how fresh they
are; where a market lives (paths, buckets, hosts) is shown to staff only."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from market.forms import MarketAddForm
from market.selectors.browse import market_list, market_location
from market.selectors.markets import market_get
from market.services.markets import MarketRefused, market_add
from market.services.publishers import market_publishers_set
from market.services.sync import sync_job_enqueue
from portal.actors import actor_from_request
from portal.permissions import is_staff, require_staff


@login_required
@require_safe
def market_list_view(request: HttpRequest) -> HttpResponse:
    staff = is_staff(request.user)
    markets = list(market_list())
    for market in markets:
        market.shown_location = market_location(market) if staff else ""  # type: ignore[attr-defined]
    return render(request, "market/markets.html", {"markets": markets, "is_staff": staff})


@login_required
def market_add_view(request: HttpRequest) -> HttpResponse:
    require_staff(request.user)
    form = MarketAddForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actor = actor_from_request(request)
        try:
            market = market_add(
                actor=actor,
                name=data["name"],
                location=data["location"],
                description=data["description"],
                writable=data["writable"],
                allow_private_network=data["allow_private_network"],
                is_private=data["is_private"],
                endpoint_url=data["endpoint_url"],
                credentials=form.credentials(),
                trust_root=data["trust_root"],
            )
        except MarketRefused as exc:
            reason = str(exc)
            field = "trust_root" if reason.startswith("trust root:") else "location"
            form.add_error(field, reason[:1].upper() + reason[1:])
        else:
            if data["publishers"]:
                market_publishers_set(actor=actor, market=market, teams=data["publishers"])
            messages.success(request, f"Market {market.name} added; its first sync is queued.")
            return redirect("market-list")
    status = 400 if form.is_bound else 200
    return render(request, "market/market_new.html", {"form": form}, status=status)


@login_required
@require_POST
def market_sync_view(request: HttpRequest, market: str) -> HttpResponse:
    require_staff(request.user)
    found = market_get(name=market)
    job = sync_job_enqueue(market=found, requested_by=actor_from_request(request).label)
    messages.success(request, f"Sync of {found.name} queued (job {job.pk}).")
    return redirect("market-list")
