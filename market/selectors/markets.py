from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.dateparse import parse_datetime

from market.models import Market


def market_get(*, name: str) -> Market:
    market = Market.objects.filter(name=name).first()
    if market is None:
        raise Http404("No such market.")
    return market


def _shown_date(raw: Any) -> str:
    moment = parse_datetime(str(raw or "").replace("Z", "+00:00"))
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "?"


def market_signature_summary(*, market: Market) -> dict[str, str]:
    """How the app pages name who signed a market, from what its last sync checked:
    `state` is "verified" (signatures checked against the pinned root), "unverified"
    (the market claims signatures but this subscription pins no root, so nothing was
    checked) or "unsigned"; `text` the line shown, `detail` the longer explanation."""
    signature = market.signature or {}
    signers = signature.get("signers") or []
    names = ", ".join(
        f"{s['team']} key {s['keyid'][:8]}" if s.get("team") else f"key {s['keyid'][:8]}"
        for s in signers
    )
    if signature.get("verified"):
        version = (market.trust_root or {}).get("version", "?")
        return {
            "state": "verified",
            "text": f"Signed by {names}",
            "detail": f"Verified against the pinned root.json (version {version});"
            f" the signature holds until {_shown_date(signature.get('expires'))}.",
        }
    if signers:
        return {
            "state": "unverified",
            "text": f"Signed by {names}, not verified",
            "detail": "This subscription pins no root.json, so its signatures are not checked.",
        }
    return {
        "state": "unsigned",
        "text": "Unsigned market",
        "detail": "Its market.json carries no signatures: whoever can write to its storage"
        " can change what it offers.",
    }
