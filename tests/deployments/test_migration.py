"""Moving the deployment models out of market/ kept their tables: a database that
already holds namespaces, instances, revisions and operations migrates forward with
every row, link and constraint in place, and nothing copied."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from deployments.models import Instance, Operation, OperationStep, Revision
from portal.models import AuditEvent

pytestmark = [pytest.mark.smoke, pytest.mark.django_db(transaction=True)]

BEFORE_THE_MOVE = [("market", "0003_workflows"), ("deployments", None)]


def migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def latest() -> list[tuple[str, str | None]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def fill_the_old_schema(apps: Any) -> dict[str, Any]:
    """Rows as the market app wrote them before the move, through its historical models."""
    Team = apps.get_model("portal", "Team")
    Market = apps.get_model("market", "Market")
    Namespace = apps.get_model("market", "Namespace")
    Instance = apps.get_model("market", "Instance")
    Revision = apps.get_model("market", "Revision")
    Operation = apps.get_model("market", "Operation")
    OperationStep = apps.get_model("market", "OperationStep")

    team = Team.objects.create(name="sre")
    market = Market.objects.create(name="main", location="/tmp/main-market")
    namespace = Namespace.objects.create(name="tools", team=team)
    redis = Instance.objects.create(
        namespace=namespace, name="redis-ops", market=market, app_name="redis-ops"
    )
    analyzer = Instance.objects.create(
        namespace=namespace,
        name="log-analyzer",
        market=market,
        app_name="log-analyzer",
        version="1.4.2",
        status="deployed",
    )
    analyzer.depends_on.add(redis)
    revision = Revision.objects.create(
        instance=analyzer,
        number=1,
        app_version="1.4.2",
        archive_digest="sha256:" + "a" * 64,
        values_encrypted="encrypted",
        manifests_encrypted="encrypted",
        manifests_digest="sha256:" + "b" * 64,
        values_masked={"replicas": 2, "password": "********"},
    )
    analyzer.current_revision = revision
    analyzer.save()
    done = Operation.objects.create(
        instance=analyzer, kind="install", state="succeeded", result_revision=revision
    )
    running = Operation.objects.create(instance=redis, kind="install", state="running")
    OperationStep.objects.create(operation=done, position=0, name="render", state="succeeded")
    apps.get_model("portal", "AuditEvent").objects.create(
        action="operation.install.succeeded",
        target_type="market.instance",
        target_id=str(analyzer.pk),
    )
    return {"analyzer": analyzer.pk, "redis": redis.pk, "done": done.pk, "running": running.pk}


def test_a_filled_database_migrates_forward_with_every_row_and_link():
    executor = migrate(BEFORE_THE_MOVE)
    ids = fill_the_old_schema(executor.loader.project_state(("market", "0003_workflows")).apps)
    old_type = ContentType.objects.get(app_label="market", model="instance")
    permission_ids = set(
        Permission.objects.filter(content_type=old_type).values_list("pk", flat=True)
    )

    migrate(latest())

    analyzer = Instance.objects.select_related("namespace__team", "market").get(pk=ids["analyzer"])
    assert (analyzer.namespace.name, analyzer.namespace.team.name, analyzer.market.name) == (
        "tools",
        "sre",
        "main",
    )
    assert [i.name for i in analyzer.depends_on.all()] == ["redis-ops"]
    assert analyzer.current_revision is not None
    assert analyzer.current_revision.values_masked == {"replicas": 2, "password": "********"}
    assert Revision.objects.get(instance=analyzer).number == 1
    assert Operation.objects.get(pk=ids["done"]).result_revision == analyzer.current_revision
    assert list(OperationStep.objects.values_list("name", flat=True)) == ["render"]
    # The audit page's filter by type finds the old records under the new label.
    assert list(AuditEvent.objects.values_list("target_type", "target_id")) == [
        ("deployments.instance", str(analyzer.pk))
    ]
    # The content type moved with its permissions rather than a second one appearing.
    moved = ContentType.objects.get(pk=old_type.pk)
    assert (moved.app_label, moved.model) == ("deployments", "instance")
    assert not ContentType.objects.filter(app_label="market", model="instance").exists()
    assert set(Permission.objects.filter(content_type=moved).values_list("pk", flat=True)) == (
        permission_ids
    )


def test_the_one_active_operation_rule_still_holds_after_the_move():
    executor = migrate(BEFORE_THE_MOVE)
    ids = fill_the_old_schema(executor.loader.project_state(("market", "0003_workflows")).apps)
    migrate(latest())

    redis = Instance.objects.get(pk=ids["redis"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(instance=redis, kind="upgrade", state="queued")
    assert Operation.objects.filter(instance=redis).count() == 1


def test_dependency_installs_made_before_the_cause_link_are_linked_to_their_cause():
    # The market app goes back too: rows are made through the models of that moment,
    # which do not know the columns later market migrations added (NOT NULL ones).
    before: list[tuple[str, str]] = [
        ("deployments", "0003_operation_retries"),
        ("market", "0006_name_validator_in_guards"),
    ]
    executor = migrate(list(before))
    apps = executor.loader.project_state(before).apps
    team = apps.get_model("portal", "Team").objects.create(name="sre")
    market = apps.get_model("market", "Market").objects.create(name="main", location="/tmp/m")
    namespace = apps.get_model("deployments", "Namespace").objects.create(name="tools", team=team)
    Instance_ = apps.get_model("deployments", "Instance")
    Operation_ = apps.get_model("deployments", "Operation")
    web = Instance_.objects.create(namespace=namespace, name="web", market=market, app_name="web")
    redis = Instance_.objects.create(
        namespace=namespace, name="redis", market=market, app_name="redis"
    )
    dependency = Operation_.objects.create(
        instance=redis, kind="install", state="succeeded", params={"dependency_of": "web"}
    )
    cause = Operation_.objects.create(
        instance=web, kind="install", state="succeeded", params={"after": [str(dependency.pk)]}
    )
    alone = Operation_.objects.create(
        instance=web, kind="upgrade", state="succeeded", params={"version_id": 1}
    )

    migrate(latest())

    assert Operation.objects.get(pk=dependency.pk).caused_by_id == cause.pk
    assert Operation.objects.get(pk=cause.pk).caused_by_id is None
    assert Operation.objects.get(pk=alone.pk).caused_by_id is None
