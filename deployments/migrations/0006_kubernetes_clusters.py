"""Kubernetes clusters registered by staff (SPEC section 9, issue 12): where the API
server is, how to trust it, its token (encrypted) and the latest check's findings."""

import guards.slugs
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('deployments', '0005_name_validator_in_guards'),
    ]

    operations = [
        migrations.CreateModel(
            name='Cluster',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=63, unique=True, validators=[guards.slugs.validate_slug])),
                ('server', models.CharField(max_length=500)),
                ('ca_cert', models.TextField(blank=True)),
                ('insecure_skip_tls_verify', models.BooleanField(default=False)),
                ('token_encrypted', models.TextField()),
                ('allow_private_network', models.BooleanField(default=False)),
                ('description', models.CharField(blank=True, max_length=200)),
                ('reachable', models.BooleanField(default=None, null=True)),
                ('version', models.CharField(blank=True, max_length=64)),
                ('last_error', models.CharField(blank=True, max_length=500)),
                ('checked_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.CharField(blank=True, max_length=150)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
    ]
