"""The portal shell's only way into the domain apps (``deployments/``, ``market/``).

The shell (settings, accounts, teams, tokens, audit) sits beneath the domain apps:
they import it, never the other way round. It needs three things of theirs — a
team's namespaces on the team pages and the team API, creating one from the team
page, and filling a fresh site with the demo — and those come through the functions
below. They import late, so loading the shell never loads a domain app, and
tests/portal/test_seams.py keeps every other portal module from importing one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Count

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from deployments.models import Namespace
    from deployments.selectors.overview import Overview
    from market.services.demo import DemoReport
    from portal.actors import Actor
    from portal.models import Team
    from portal.permissions import AnyUser
    from telemetry.stream import StreamSummary


def team_namespaces(*, user: AnyUser, team: str) -> QuerySet[Namespace]:
    """The namespaces of `team` that `user` may see, by name."""
    from deployments.selectors.namespaces import namespace_list

    return namespace_list(user=user, team=team)


def home_overview(*, user: AnyUser) -> Overview:
    """The home page's counts and charts of the instances `user` may see."""
    from deployments.selectors.overview import instance_overview

    return instance_overview(user=user)


def team_namespace_create(
    *, actor: Actor, team: Team, name: str, description: str = ""
) -> Namespace:
    """A namespace owned by `team`, on the default deploy target (ServiceError when refused)."""
    from deployments.services.namespaces import namespace_create

    return namespace_create(actor=actor, team=team, name=name, description=description)


def demo_namespace_ensure(*, actor: Actor, team: Team, name: str, description: str) -> None:
    """The demo namespace, created once: `demo_load` runs again on every `make run`."""
    from deployments.models import Namespace
    from deployments.services.namespaces import namespace_create

    if not Namespace.objects.filter(name=name).exists():
        namespace_create(actor=actor, team=team, name=name, description=description)


def demo_market_load(*, actor: Actor, team: Team) -> DemoReport:
    """Build, publish into the local market `demo` and sync every demo app source."""
    from market.services.demo import demo_market_load as load

    return load(actor=actor, team=team)


def operation_counts() -> dict[tuple[str, str], int]:
    """How many operations there are of each (kind, state), every pair present (for
    the portal's own /metrics)."""
    from deployments.models import Operation, OperationKind, OperationState

    counts = dict.fromkeys(
        ((kind, state) for kind in OperationKind.values for state in OperationState.values), 0
    )
    rows = Operation.objects.values_list("kind", "state").annotate(n=Count("id")).order_by()
    for kind, state, n in rows:
        counts[(kind, state)] = n
    return counts


def instance_counts() -> dict[str, int]:
    """How many instances there are in each status, every status present."""
    from deployments.models import Instance, InstanceStatus

    counts = dict.fromkeys(InstanceStatus.values, 0)
    for status, n in Instance.objects.values_list("status").annotate(n=Count("id")).order_by():
        counts[status] = n
    return counts


def kafka_stream_summary() -> StreamSummary:
    """The metrics stream's counters across every producing process."""
    from telemetry.stream import stream_summary

    return stream_summary()


def kafka_stream_probe(*, timeout: float) -> bool | None:
    """Whether Kafka answers now (None: no stream configured)."""
    from telemetry.stream import stream_probe

    return stream_probe(timeout=timeout)
