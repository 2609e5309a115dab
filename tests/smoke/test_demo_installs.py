"""Every demo app installs with its defaults (issue 14, item 3): on a fresh demo site,
the demo operator installs the app's newest version, with no values of their own,
into the demo namespace, and the operation succeeds with the app and whatever it
depends on deployed. chaos-drills 0.3.0 did not: its defaults put Roles into two
other namespaces, which the GitOps check refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from deployments.models import Instance, Namespace, Operation
from deployments.services.instances import instance_install
from market.models import Market
from market.services.demo import DEMO_MARKET, demo_sources
from portal.actors import Actor
from portal.management.commands.demo_load import DEMO_NAMESPACE

pytestmark = [
    pytest.mark.smoke,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("eager_tasks"),
]

DEMO_APPS = sorted({folder.parent.name for folder in demo_sources()})


@pytest.fixture(scope="module")
def markets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One market folder for the module: the first demo_load publishes into it, the
    next ones find every archive there and only subscribe and sync, as `make run` does
    from its second start (publishing the demo took three quarters of each test)."""
    return tmp_path_factory.mktemp("markets")


@pytest.fixture
def demo_site(settings: Any, tmp_path: Path, markets_dir: Path) -> None:
    settings.MARKETS_DIR = markets_dir
    settings.PACKAGE_CACHE_DIR = tmp_path / "package-cache"
    settings.GITOPS_DIR = tmp_path / "gitops"
    with open(tmp_path / "demo_load.out", "w") as out:
        call_command("demo_load", force=True, stdout=out)


def test_the_demo_has_apps() -> None:
    assert len(DEMO_APPS) >= 13 and "chaos-drills" in DEMO_APPS


@pytest.mark.parametrize("app", DEMO_APPS)
def test_each_demo_app_installs_with_its_defaults(demo_site: None, app: str) -> None:
    operator = get_user_model().objects.get(username="operator")
    market = Market.objects.get(name=DEMO_MARKET)
    newest = market.apps.get(name=app).latest

    requested = instance_install(
        actor=Actor(user=operator),
        namespace=Namespace.objects.get(name=DEMO_NAMESPACE),
        market=market,
        name=app,
        app=app,
    )

    operation = Operation.objects.get(pk=requested.operation.pk)
    assert (operation.state, operation.error) == ("succeeded", "")
    instance = Instance.objects.get(namespace__name=DEMO_NAMESPACE, name=app)
    assert (instance.status, instance.version) == ("deployed", newest)
    assert set(Instance.objects.values_list("status", flat=True)) == {"deployed"}
