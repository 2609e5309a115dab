"""The engine in this process: each operation's steps, its commit in the GitOps
repository, and what the instance records. The same services run under a real
worker in test_worker.py."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from deployments.models import Instance, Namespace, Operation, Revision
from deployments.services.instances import (
    ValuesRejected,
    instance_install,
    instance_rollback,
    instance_uninstall,
    instance_upgrade,
)
from deployments.workflow.engine import operation_execute
from market.models import Market
from portal.actors import Actor
from portal.services.errors import Invalid, Refused
from tests.deployments.conftest import commit_subjects, files_under, revision_number

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_tasks")]


def install(actor: Any, namespace: Namespace, market: Market, **kwargs: Any) -> Instance:
    requested = instance_install(
        actor=Actor(user=actor), namespace=namespace, market=market, **kwargs
    )
    return Instance.objects.get(pk=requested.instance.pk)


def test_install_with_dependency_commits_each_instance_once(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    web = install(
        operator,
        namespace,
        apps_market,
        name="shop",
        app="web-app",
        version="1.0.0",
        values={"replicas": 3, "apiKey": "s3cr3t-key"},
    )

    assert web.status == "deployed", web.status_message
    redis = Instance.objects.get(namespace=namespace, name="redis-lite")
    assert redis.status == "deployed"
    assert list(web.depends_on.all()) == [redis]
    assert commit_subjects(gitops_repo) == [
        "install pay-prod/redis-lite redis-lite@1.0.0",
        "install pay-prod/shop web-app@1.0.0",
    ]
    files = files_under(gitops_repo, "pay-prod/shop")
    assert sorted(files) == ["deployment.yaml", "secret.yaml"]
    assert "replicas: 3" in files["deployment.yaml"]
    # The repository holds the real secret (Argo applies it); the database shows it masked.
    assert base64.b64encode(b"s3cr3t-key").decode() in files["secret.yaml"]
    revision = web.current_revision
    assert revision is not None and revision.number == 1
    assert revision.values_masked["apiKey"] == "********"
    assert "s3cr3t" not in str(revision.manifests_masked)
    assert base64.b64encode(b"s3cr3t-key").decode() not in str(revision.manifests_masked)
    assert "s3cr3t" not in revision.values_encrypted


def test_upgrade_rollback_uninstall_each_one_commit(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    actor = Actor(user=operator)
    web = install(
        operator,
        namespace,
        apps_market,
        name="shop",
        app="web-app",
        version="1.0.0",
        values={"replicas": 2, "apiKey": "k1"},
    )
    instance_upgrade(actor=actor, instance=web, version="1.1.0", values={"replicas": 4})
    web.refresh_from_db()
    assert (web.status, web.version, revision_number(web)) == ("deployed", "1.1.0", 2)
    files = files_under(gitops_repo, "pay-prod/shop")
    assert "configmap.yaml" in files and "replicas: 4" in files["deployment.yaml"]
    # The omitted secret kept its value.
    assert base64.b64encode(b"k1").decode() in files["secret.yaml"]

    instance_rollback(actor=actor, instance=web, revision=1)
    web.refresh_from_db()
    assert (web.status, web.version, revision_number(web)) == ("deployed", "1.0.0", 3)
    restored = files_under(gitops_repo, "pay-prod/shop")
    first = Revision.objects.get(instance=web, number=1)
    assert restored == {p: t for p, t in restored.items()} and sorted(restored) == sorted(
        first.manifests_masked
    )
    assert "replicas: 2" in restored["deployment.yaml"]

    redis = Instance.objects.get(namespace=namespace, name="redis-lite")
    with pytest.raises(Refused, match="would break pay-prod/shop"):
        instance_uninstall(actor=actor, instance=redis)

    instance_uninstall(actor=actor, instance=web)
    web.refresh_from_db()
    assert web.status == "uninstalled"
    assert files_under(gitops_repo, "pay-prod/shop") == {}
    assert commit_subjects(gitops_repo)[1:] == [
        "install pay-prod/shop web-app@1.0.0",
        "upgrade pay-prod/shop web-app@1.1.0",
        "rollback pay-prod/shop web-app@1.0.0",
        "uninstall pay-prod/shop web-app@1.0.0",
    ]


def test_failed_upgrade_restores_previous_revision(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    actor = Actor(user=operator)
    web = install(operator, namespace, apps_market, name="shop", app="web-app", version="1.1.0")
    before = files_under(gitops_repo, "pay-prod/shop")

    requested = instance_upgrade(actor=actor, instance=web, version="1.2.0")

    operation = Operation.objects.get(pk=requested.operation.pk)
    assert operation.state == "rolled_back"
    assert "verify" in operation.error and "no kind" in operation.error
    web.refresh_from_db()
    assert (web.status, web.version, revision_number(web)) == ("deployed", "1.1.0", 1)
    assert "revision 1 was restored" in web.status_message
    assert files_under(gitops_repo, "pay-prod/shop") == before
    assert commit_subjects(gitops_repo)[-2:] == [
        "upgrade pay-prod/shop web-app@1.2.0",
        "rollback pay-prod/shop web-app@1.1.0",
    ]
    steps = {s.name: s.state for s in operation.steps.all()}
    assert steps["verify"] == "failed" and steps["record"] == "skipped"


def test_invalid_values_list_every_problem_and_write_nothing(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    with pytest.raises(ValuesRejected) as caught:
        instance_install(
            actor=Actor(user=operator),
            namespace=namespace,
            market=apps_market,
            name="shop",
            app="web-app",
            values={"replicas": 0, "logLevel": "loud", "image": {"tag": "latest"}},
        )
    assert len(caught.value.errors) == 3
    assert Instance.objects.count() == 0 and Operation.objects.count() == 0


def test_dependency_cycle_refused(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    with pytest.raises(Invalid, match="cycle: loop-a -> loop-b -> loop-a"):
        instance_install(
            actor=Actor(user=operator),
            namespace=namespace,
            market=apps_market,
            name="a",
            app="loop-a",
        )
    assert Instance.objects.count() == 0


def test_redelivered_operation_makes_no_second_commit(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    web = install(operator, namespace, apps_market, name="shop", app="web-app", version="1.0.0")
    operation = web.operations.get()
    commits = commit_subjects(gitops_repo)

    operation_execute(str(operation.pk))  # the same message, delivered again

    assert commit_subjects(gitops_repo) == commits
    assert Revision.objects.filter(instance=web).count() == 1


def test_failed_install_removes_its_files_and_can_be_installed_again(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    actor = Actor(user=operator)
    first = instance_install(
        actor=actor,
        namespace=namespace,
        market=apps_market,
        name="shop",
        app="web-app",
        version="1.2.0",
    )
    shop = Instance.objects.get(pk=first.instance.pk)
    operation = Operation.objects.get(pk=first.operation.pk)
    assert operation.state == "failed"
    assert shop.status == "failed" and shop.current_revision is None
    assert "verify" in shop.status_message and "removed" in shop.status_message
    assert files_under(gitops_repo, "pay-prod/shop") == {}
    assert commit_subjects(gitops_repo)[-2:] == [
        "install pay-prod/shop web-app@1.2.0",
        "uninstall pay-prod/shop web-app@1.2.0",
    ]

    again = instance_install(
        actor=actor,
        namespace=namespace,
        market=apps_market,
        name="shop",
        app="web-app",
        version="1.1.0",
    )

    assert again.instance.pk == shop.pk
    shop.refresh_from_db()
    assert (shop.status, shop.version, revision_number(shop)) == ("deployed", "1.1.0", 1)
    assert sorted(files_under(gitops_repo, "pay-prod/shop")) == [
        "configmap.yaml",
        "deployment.yaml",
        "secret.yaml",
    ]


def test_resources_list_masked_secrets_too(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    from deployments.selectors.instances import instance_resources

    web = install(
        operator,
        namespace,
        apps_market,
        name="shop",
        app="web-app",
        version="1.1.0",
        values={"apiKey": "Zq8-secret"},
    )

    assert sorted((r["kind"], r["name"]) for r in instance_resources(web)) == [
        ("ConfigMap", "shop"),
        ("Deployment", "shop"),
        ("Secret", "shop-key"),
    ]


def test_a_one_letter_secret_is_masked_without_eating_keys_and_kinds(
    gitops_repo: Path, apps_market: Market, namespace: Namespace, operator: Any
) -> None:
    web = install(
        operator,
        namespace,
        apps_market,
        name="shop",
        app="web-app",
        version="1.0.0",
        values={"apiKey": "k"},
    )
    assert web.current_revision is not None
    secret = web.current_revision.manifests_masked["secret.yaml"]

    # Rendered with the mask in place of the secret: b64encode shows the mask as is.
    assert "kind: Secret" in secret and "apiKey: ********" in secret
    assert base64.b64encode(b"k").decode() not in secret
