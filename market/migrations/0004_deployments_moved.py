"""Namespaces, instances, revisions, operations and their steps moved to the deployments
app with their tables (deployments 0001): forget them here, touch no table."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("market", "0003_workflows"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables stay as they are: only Django's idea of which app owns them moves.
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="revision",
                    name="instance",
                ),
                migrations.RemoveField(
                    model_name="operation",
                    name="instance",
                ),
                migrations.RemoveField(
                    model_name="namespace",
                    name="team",
                ),
                migrations.RemoveField(
                    model_name="operation",
                    name="from_revision",
                ),
                migrations.RemoveField(
                    model_name="operation",
                    name="result_revision",
                ),
                migrations.RemoveField(
                    model_name="operationstep",
                    name="operation",
                ),
                migrations.RemoveField(
                    model_name="revision",
                    name="operation",
                ),
                migrations.DeleteModel(
                    name="Instance",
                ),
                migrations.DeleteModel(
                    name="Namespace",
                ),
                migrations.DeleteModel(
                    name="OperationStep",
                ),
                migrations.DeleteModel(
                    name="Operation",
                ),
                migrations.DeleteModel(
                    name="Revision",
                ),
            ],
        ),
    ]
