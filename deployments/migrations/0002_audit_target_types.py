"""Audit records name their target by model label: those written before the move say
``market.<model>`` for what is now ``deployments.<model>``. Rename them, so that the
audit page's type filter finds an instance's whole history under one name."""

from django.db import migrations

MOVED_MODELS = ("namespace", "instance", "revision", "operation", "operationstep")


def relabel(apps, schema_editor, old, new):
    AuditEvent = apps.get_model("portal", "AuditEvent")
    for model in MOVED_MODELS:
        AuditEvent.objects.filter(target_type=f"{old}.{model}").update(
            target_type=f"{new}.{model}"
        )


def forwards(apps, schema_editor):
    relabel(apps, schema_editor, "market", "deployments")


def backwards(apps, schema_editor):
    relabel(apps, schema_editor, "deployments", "market")


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0001_initial"),
        ("portal", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
