"""Operation.caused_by: a dependency's install points at the operation that asked for
it. Existing rows are linked from what the engine already kept, the cause's
``params["after"]`` (the ids of the dependency operations it waits for)."""

import django.db.models.deletion
from django.db import migrations, models


def link_existing(apps, schema_editor):
    Operation = apps.get_model("deployments", "Operation")
    for cause in Operation.objects.filter(params__has_key="after").only("pk", "params"):
        after = cause.params.get("after") or []
        if isinstance(after, list) and after:
            Operation.objects.filter(pk__in=[str(pk) for pk in after]).update(caused_by=cause)


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0003_operation_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="operation",
            name="caused_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="caused",
                to="deployments.operation",
            ),
        ),
        migrations.RunPython(link_existing, migrations.RunPython.noop),
    ]
