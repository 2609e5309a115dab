"""The last leg of the air gap: an app installed through the workflow from a bundle
imported as a market, with the network blocked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from builds.services.bundles import bundle_import
from deployments.models import Instance
from deployments.services.instances import instance_install
from portal.actors import Actor
from portal.models import Role
from tests.builds.test_bundles import export
from tests.deployments.conftest import commit_subjects, gitops_repo  # noqa: F401
from tests.factories import make_namespace, make_team, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_tasks")]


def test_install_an_app_and_its_dependencies_from_an_imported_bundle(
    tmp_path: Path,
    source_market: Any,
    staff_user: Any,
    offline: list[Any],
    gitops_repo: Path,  # noqa: F811
    settings: Any,
) -> None:
    bundle = tmp_path / "offline.tgz"
    export("main", "log-analyzer", out=bundle)
    settings.PACKAGE_CACHE_DIR = tmp_path / "far-cache"
    market = bundle_import(actor=Actor(user=staff_user), name="offline", data=bundle.read_bytes())
    operator = make_user("olga")
    namespace = make_namespace(make_team("obs", members={operator: Role.OPERATOR}), "obs-prod")

    requested = instance_install(
        actor=Actor(user=operator),
        namespace=namespace,
        name="logs",
        market=market,
        app="log-analyzer",
    )

    instance = Instance.objects.get(pk=requested.instance.pk)
    assert instance.status == "deployed", instance.status_message
    assert instance.version == "1.4.2"
    deployed = {i.name: (i.status, i.version) for i in Instance.objects.filter(namespace=namespace)}
    assert deployed == {
        "logs": ("deployed", "1.4.2"),
        "redis-ops": ("deployed", "1.3.0"),
        "log-collector": ("deployed", "1.2.0"),
    }
    assert commit_subjects(gitops_repo)[-1] == "install obs-prod/logs log-analyzer@1.4.2"
    assert offline == []
