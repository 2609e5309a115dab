"""Kubernetes clusters registered by staff (SPEC section 9, issue 12): where the API
server is, how to trust it, its token (encrypted) and the latest check's findings."""

import django.core.validators
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('deployments', '0004_operation_caused_by'),
    ]

    operations = [
        migrations.CreateModel(
            name='Cluster',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=63, unique=True, validators=[django.core.validators.RegexValidator('^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', 'Use lowercase letters, digits and dashes; start and end with a letter or digit.')])),
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
