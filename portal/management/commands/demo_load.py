"""`manage.py demo_load`: demo logins, a team and a namespace to try the portal with.

The run command calls it at every start, so it is idempotent: a second run finds
everything in place, changes nothing and prints the same logins. It refuses to run
with DEBUG off unless given --force, because the passwords it sets are public.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import transaction

from portal.actors import Actor
from portal.models import Role, Team
from portal.seams import demo_market_load, demo_namespace_ensure
from portal.services.errors import ServiceError
from portal.services.teams import membership_set, team_create


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    staff: bool
    note: str


DEMO_TEAM = "platform-sre"
DEMO_NAMESPACE = "sre-tools"
DEMO_LOGINS = (
    DemoLogin("admin", "admin-demo-password", staff=True, note="staff, admin console at /admin/"),
    DemoLogin(
        "operator",
        "operator-demo-password",
        staff=False,
        note=f"operator in team {DEMO_TEAM}, namespace {DEMO_NAMESPACE}",
    ),
)


# --- HOOK: the demo market ------------------------------------------------------
def load_demo_market(*, actor: Actor, team: Team, stdout: OutputWrapper) -> None:
    """Build every source folder under market/demo/apps, publish the archives into
    the local market `demo` (created once, published into by `team`), sync it and
    print one line. Called after the logins, team and namespace exist."""
    report = demo_market_load(actor=actor, team=team)
    stdout.write(report.summary() if report.ok else f"WARNING: {report.summary()}")


# ---------------------------------------------------------------------------------


def _ensure_user(login: DemoLogin) -> tuple[Any, str]:
    """The user, active, with the demo password and staff flags. Returns what changed."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=login.username, defaults={"email": f"{login.username}@example.org"}
    )
    changed = []
    if not user.is_active:
        user.is_active = True
        changed.append("reactivated")
    if user.is_staff != login.staff or user.is_superuser != login.staff:
        user.is_staff = user.is_superuser = login.staff
        changed.append("staff flags reset")
    # check_password first: setting an equal password would still rehash it and
    # sign the user out of every session.
    if not user.check_password(login.password):
        user.set_password(login.password)
        changed.append("password reset")
    if created or changed:
        user.save()
    return user, "created" if created else ", ".join(changed)


class Command(BaseCommand):
    help = "Create the demo logins, team platform-sre and namespace sre-tools. Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (the demo passwords are public: throwaway sites only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "demo_load creates logins with public passwords; refusing with DEBUG off "
                "(use --force on a throwaway site)"
            )
        actor = Actor.cli()
        try:
            with transaction.atomic():
                users = {login.username: _ensure_user(login) for login in DEMO_LOGINS}
                team = Team.objects.filter(name=DEMO_TEAM).first() or team_create(
                    actor=actor, name=DEMO_TEAM, description="Platform SRE (demo)"
                )
                membership_set(
                    actor=actor, team=team, user=users["operator"][0], role=Role.OPERATOR
                )
                demo_namespace_ensure(
                    actor=actor, team=team, name=DEMO_NAMESPACE, description="SRE tools (demo)"
                )
        except ServiceError as exc:
            raise CommandError(exc.message) from None

        load_demo_market(actor=actor, team=team, stdout=self.stdout)

        self.stdout.write("Demo logins (log in at /accounts/login/):")
        for login in DEMO_LOGINS:
            change = users[login.username][1]
            suffix = f" [{change}]" if change else ""
            self.stdout.write(f"  {login.username:<9} {login.password:<23} {login.note}{suffix}")
