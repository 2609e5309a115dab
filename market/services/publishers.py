"""Who may publish into a market: its publishing teams."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from market.models import Market
from portal.actors import Actor
from portal.models import Team
from portal.services.audit import audit_record


def market_publishers_set(*, actor: Actor, market: Market, teams: Iterable[Team]) -> list[str]:
    """Make ``teams`` the market's publishing teams, with an audit record when that
    changes anything. Returns the team names, sorted."""
    wanted = {team.pk: team for team in teams}
    with transaction.atomic():
        current = set(market.publishers.values_list("pk", flat=True))
        names = sorted(team.name for team in wanted.values())
        if current == set(wanted):
            return names
        market.publishers.set(list(wanted.values()))
        audit_record(
            actor=actor, action="market.publishers", target=market, detail={"teams": names}
        )
    return names
