from __future__ import annotations

from django.http import Http404

from market.models import Market


def market_get(*, name: str) -> Market:
    market = Market.objects.filter(name=name).first()
    if market is None:
        raise Http404("No such market.")
    return market
