"""What the install form checks before anything is written: whether the instance name
may be used in the namespace, and what the dependency plan would install with it.

The rules are the install service's own (instance_name_check, instance_name_taken,
install_plan), read without locks: the form asks as the user types, and the service
asks again, under its locks, when the install is requested."""

from __future__ import annotations

from dataclasses import dataclass, field

from deployments.models import Instance, Namespace
from deployments.services.instances import instance_name_check, instance_name_taken
from deployments.workflow.resolve import install_plan
from market.models import AppVersion
from portal.services.errors import Invalid


@dataclass
class InstallCheck:
    """``name_problem`` and ``plan_problem`` are "" when there is none; ``installs`` are
    the dependencies installed first (each named after its app), ``uses`` the instances
    already in the namespace that the new one will depend on."""

    name: str
    name_problem: str = ""
    plan_problem: str = ""
    installs: list[AppVersion] = field(default_factory=list)
    uses: list[Instance] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.name_problem or self.plan_problem)

    def as_json(self) -> dict[str, object]:
        return {
            "name": {"value": self.name, "ok": not self.name_problem, "message": self.name_problem},
            "plan": {
                "ok": not self.plan_problem,
                "message": self.plan_problem,
                "installs": [f"{v.app.name} {v.version}" for v in self.installs],
                "uses": [f"{i.name} {i.version}" for i in self.uses],
            },
        }


def _taken(namespace: Namespace, name: str, app: str) -> str:
    holder = Instance.objects.select_related("namespace").filter(namespace=namespace, name=name)
    return instance_name_taken(holder.first(), app=app)


def install_check(*, namespace: Namespace, name: str, root: AppVersion) -> InstallCheck:
    """The name's problem (the naming rule, then an instance holding it), and the plan's
    (a cycle, an unsatisfiable range, a dependency whose name is taken)."""
    check = InstallCheck(name=name)
    try:
        check.name = instance_name_check(name)
    except Invalid as exc:
        check.name_problem = exc.message
    else:
        check.name_problem = _taken(namespace, check.name, root.app.name)
    try:
        plan = install_plan(namespace=namespace, root=root)
    except Invalid as exc:
        check.plan_problem = exc.message
        return check
    check.installs, check.uses = plan.missing, plan.present
    for dependency in plan.missing:
        dependency_name = dependency.app.name
        if dependency_name == check.name:
            check.name_problem = check.name_problem or (
                f"The dependency {dependency_name} is installed under that name;"
                " choose another name for this instance."
            )
            continue
        taken = _taken(namespace, dependency_name, dependency_name)
        if taken:
            check.plan_problem = f"Dependency {dependency_name} cannot be installed: {taken}"
    return check
