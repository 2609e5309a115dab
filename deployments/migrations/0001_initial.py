"""The deployment models, moved from the market app with their tables (``market_*``):
the tables exist already (market 0003 made them), so this only tells Django's state."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
import uuid
from django.db import migrations, models


MOVED_MODELS = ("namespace", "instance", "revision", "operation", "operationstep")


def content_types_follow(apps, schema_editor):
    """Keep the content types (and so the permissions and admin log entries that point
    at them) of the moved models: relabel market's rows instead of letting
    post_migrate create new ones beside them."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(
        ContentType.objects.filter(app_label="deployments", model__in=MOVED_MODELS).values_list(
            "model", flat=True
        )
    )
    ContentType.objects.filter(app_label="market", model__in=MOVED_MODELS).exclude(
        model__in=taken
    ).update(app_label="deployments")


def content_types_return(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="deployments", model__in=MOVED_MODELS).update(
        app_label="market"
    )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('market', '0004_deployments_moved'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('portal', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The tables stay as they are: only Django's idea of which app owns them moves.
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Namespace',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=63, unique=True, validators=[django.core.validators.RegexValidator('^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', 'Use lowercase letters, digits and dashes; start and end with a letter or digit.')])),
                        ('target', models.CharField(choices=[('gitops', 'GitOps repository')], default='gitops', max_length=32)),
                        ('description', models.CharField(blank=True, max_length=200)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('team', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='namespaces', to='portal.team')),
                    ],
                    options={
                        'db_table': 'market_namespace',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='Instance',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=53, validators=[django.core.validators.RegexValidator('^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', 'Use lowercase letters, digits and dashes; start and end with a letter or digit.')])),
                        ('app_name', models.CharField(max_length=63)),
                        ('version', models.CharField(blank=True, max_length=100)),
                        ('status', models.CharField(choices=[('installing', 'Installing'), ('deployed', 'Deployed'), ('upgrading', 'Upgrading'), ('failed', 'Failed'), ('uninstalling', 'Uninstalling'), ('uninstalled', 'Uninstalled')], default='installing', max_length=16)),
                        ('status_message', models.CharField(blank=True, max_length=500)),
                        ('created_by', models.CharField(blank=True, max_length=150)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('depends_on', models.ManyToManyField(blank=True, related_name='dependents', to='deployments.instance')),
                        ('market', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='instances', to='market.market')),
                        ('namespace', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='instances', to='deployments.namespace')),
                    ],
                    options={
                        'db_table': 'market_instance',
                        'ordering': ['namespace__name', 'name'],
                    },
                ),
                migrations.CreateModel(
                    name='Operation',
                    fields=[
                        ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ('kind', models.CharField(choices=[('install', 'Install'), ('upgrade', 'Upgrade'), ('rollback', 'Rollback'), ('uninstall', 'Uninstall')], max_length=16)),
                        ('state', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('rolled_back', 'Rolled Back')], default='queued', max_length=16)),
                        ('requested_by', models.CharField(blank=True, max_length=150)),
                        ('params', models.JSONField(blank=True, default=dict)),
                        ('values_encrypted', models.TextField(blank=True)),
                        ('context', models.JSONField(blank=True, default=dict)),
                        ('attempt', models.PositiveIntegerField(default=0)),
                        ('error', models.CharField(blank=True, max_length=1000)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('instance', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='operations', to='deployments.instance')),
                    ],
                    options={
                        'db_table': 'market_operation',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='Revision',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('number', models.PositiveIntegerField()),
                        ('app_version', models.CharField(max_length=100)),
                        ('archive_digest', models.CharField(max_length=80)),
                        ('values_encrypted', models.TextField()),
                        ('values_masked', models.JSONField(default=dict)),
                        ('manifests_encrypted', models.TextField()),
                        ('manifests_masked', models.JSONField(default=dict)),
                        ('manifests_digest', models.CharField(max_length=80)),
                        ('secret_paths', models.JSONField(default=list)),
                        ('commit', models.CharField(blank=True, max_length=64)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('instance', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='revisions', to='deployments.instance')),
                        ('operation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='deployments.operation')),
                    ],
                    options={
                        'db_table': 'market_revision',
                        'ordering': ['instance', '-number'],
                    },
                ),
                migrations.AddField(
                    model_name='operation',
                    name='from_revision',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='deployments.revision'),
                ),
                migrations.AddField(
                    model_name='operation',
                    name='result_revision',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='deployments.revision'),
                ),
                migrations.AddField(
                    model_name='instance',
                    name='current_revision',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='deployments.revision'),
                ),
                migrations.CreateModel(
                    name='OperationStep',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveSmallIntegerField()),
                        ('name', models.CharField(max_length=32)),
                        ('state', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('skipped', 'Skipped')], default='pending', max_length=16)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('message', models.CharField(blank=True, max_length=1000)),
                        ('log', models.TextField(blank=True)),
                        ('operation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='deployments.operation')),
                    ],
                    options={
                        'db_table': 'market_operationstep',
                        'ordering': ['operation', 'position'],
                        'constraints': [models.UniqueConstraint(fields=('operation', 'position'), name='step_unique_position')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='revision',
                    constraint=models.UniqueConstraint(fields=('instance', 'number'), name='revision_unique_number'),
                ),
                migrations.AddIndex(
                    model_name='operation',
                    index=models.Index(fields=['state', 'heartbeat_at'], name='operation_state_beat'),
                ),
                migrations.AddConstraint(
                    model_name='operation',
                    constraint=models.UniqueConstraint(condition=models.Q(('state__in', ['queued', 'running'])), fields=('instance',), name='operation_one_active_per_instance'),
                ),
                migrations.AddConstraint(
                    model_name='instance',
                    constraint=models.UniqueConstraint(fields=('namespace', 'name'), name='instance_unique_name'),
                ),
            ],
        ),
        migrations.RunPython(content_types_follow, content_types_return),
    ]
