from typing import Any

from django.db import migrations, models


def forget_index_digests(apps: Any, schema_editor: Any) -> None:
    """Syncs before this migration ignored "yanked" and "advisories": an unchanged
    index would never be read again. Forgetting the stored digests and ETags makes
    the next sync of every market read every index once."""
    apps.get_model("market", "App").objects.update(index_digest="")
    apps.get_model("market", "Market").objects.update(etag="")


class Migration(migrations.Migration):
    dependencies = [
        ("market", "0007_signed_markets_signing_keys_trust_root"),
    ]

    operations = [
        migrations.AddField(
            model_name="app",
            name="advisories",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="appversion",
            name="yanked",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.RunPython(forget_index_digests, migrations.RunPython.noop),
    ]
