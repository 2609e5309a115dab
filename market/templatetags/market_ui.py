"""Small filters of the market pages (``{% load market_ui %}``)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

ICON_HUES = 8


@register.filter
def app_hue(name: str) -> int:
    """A stable colour (0-7) for an app without an icon, from its name."""
    return hashlib.sha256(str(name).encode()).digest()[0] % ICON_HUES


@register.filter
def app_initials(title: str) -> str:
    """``Log Analyzer`` -> ``LA``; ``redis-ops`` -> ``RO``: the letters on a missing icon."""
    words = str(title).replace("-", " ").split()
    return "".join(word[0] for word in words[:2]).upper() or "?"


@register.filter
def category_label(slug: str) -> str:
    return str(slug).replace("-", " ").capitalize()


@register.filter
def ago(value: datetime | None) -> str:
    """``just now``, ``5 minutes ago``, ``3 days ago``: one unit, for cards."""
    if value is None:
        return ""
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.inclusion_tag("market/_signature.html")
def market_signature(market: Any, detail: bool = False) -> dict[str, Any]:
    """`{% market_signature market %}`: who signed the market, and whether it was
    checked; with `detail=True` the explanation is written out, not only a tooltip."""
    from market.selectors.markets import market_signature_summary

    return {"signature": market_signature_summary(market=market), "detail": detail}
