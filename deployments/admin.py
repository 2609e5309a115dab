"""The admin console for clusters, namespaces and what is installed in them.

Clusters are added through the portal's own form (cluster_add must call the server
first) and removed through cluster_remove; their token is never shown, not even
encrypted.

Namespaces are saved through their services. Instances, revisions and operations
are read-only here: they change only through the workflow services, and their
encrypted values and manifests are never shown (the masked copies are)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from deployments.models import Cluster, Instance, Namespace, Operation, OperationStep, Revision
from deployments.services.clusters import cluster_remove
from deployments.services.namespaces import (
    namespace_cluster_for,
    namespace_create,
    namespace_delete,
    namespace_update,
)
from portal.admin import AuditedAdmin, ReadOnly, ReadOnlyAdmin, admin_actor
from portal.services.errors import ServiceError


@admin.register(Cluster)
class ClusterAdmin(AuditedAdmin):
    list_display = ("name", "server", "state", "version", "checked_at", "created_at")
    list_filter = ("reachable", "insecure_skip_tls_verify", "allow_private_network")
    search_fields = ("name", "description", "server")
    exclude = ("token_encrypted",)
    readonly_fields = (
        "name",
        "server",
        "ca_cert",
        "insecure_skip_tls_verify",
        "token",
        "allow_private_network",
        "reachable",
        "version",
        "last_error",
        "checked_at",
        "created_by",
        "created_at",
    )

    @admin.display(description="Token")
    def token(self, obj: Cluster) -> str:
        return "stored encrypted; never shown"

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # Adding calls the API server first: the portal's own form (cluster_add)
        # does that, so the console sends staff there.
        return redirect("cluster-add")

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        # cluster_remove writes the audit record; keep only Django's own log here.
        return admin.ModelAdmin.log_deletions(self, request, queryset)

    def delete_model(self, request: HttpRequest, obj: Cluster) -> None:
        cluster_remove(actor=admin_actor(request), cluster=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Cluster]) -> None:
        for cluster in queryset:
            cluster_remove(actor=admin_actor(request), cluster=cluster)


class NamespaceForm(forms.ModelForm):
    class Meta:
        model = Namespace
        fields = ("name", "team", "target", "cluster", "description")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is None:
            # The service's own rule, as a form error rather than a failed save.
            cluster = data.get("cluster")
            try:
                namespace_cluster_for(data.get("target", ""), cluster.name if cluster else "")
            except ServiceError as exc:
                raise forms.ValidationError(exc.message) from None
        return data


@admin.register(Namespace)
class NamespaceAdmin(AuditedAdmin):
    form = NamespaceForm
    audited_by_services = True
    list_display = ("name", "team", "target", "cluster", "description", "created_at")
    list_filter = ("target", "team", "cluster")
    search_fields = ("name", "description", "team__name")
    autocomplete_fields = ("team",)
    list_select_related = ("team", "cluster")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Name and target are folder names in the GitOps repository (and the
        # namespace in a cluster): set once.
        return ("name", "target", "cluster", "created_at") if obj else ("created_at",)

    def save_model(self, request: HttpRequest, obj: Namespace, form: Any, change: bool) -> None:
        actor = admin_actor(request)
        if change:
            namespace_update(actor=actor, namespace=obj, team=obj.team, description=obj.description)
            return
        created = namespace_create(
            actor=actor,
            team=obj.team,
            name=obj.name,
            description=obj.description,
            target=obj.target,
            cluster=obj.cluster.name if obj.cluster else "",
        )
        obj.pk = created.pk
        obj.created_at = created.created_at
        obj._state.adding = False
        obj._state.db = created._state.db

    def delete_model(self, request: HttpRequest, obj: Namespace) -> None:
        try:
            namespace_delete(actor=admin_actor(request), namespace=obj)
        except ServiceError as exc:
            self._refused(request, exc)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Namespace]) -> None:
        for namespace in queryset.select_related("team"):
            self.delete_model(request, namespace)


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "namespace",
        "app_name",
        "version",
        "status",
        "live_health",
        "live_sync",
        "updated_at",
    )
    list_filter = ("status", "live_health", "live_sync", "market", "namespace__team")
    search_fields = ("name", "namespace__name", "app_name", "status_message")
    list_select_related = ("namespace", "market")
    date_hierarchy = "updated_at"
    fields = (
        "namespace",
        "name",
        "market",
        "app_name",
        "version",
        "status",
        "status_message",
        "current_revision",
        "depends_on",
        "live_sync",
        "live_health",
        "live_checked_at",
        "live_error",
        "created_by",
        "created_at",
        "updated_at",
    )


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    list_display = ("instance", "number", "app_version", "commit", "created_at")
    list_filter = ("instance__namespace",)
    search_fields = ("instance__name", "instance__namespace__name", "app_version", "commit")
    list_select_related = ("instance", "instance__namespace")
    # values_encrypted and manifests_encrypted hold the secrets: left out on purpose.
    fields = (
        "instance",
        "number",
        "app_version",
        "archive_digest",
        "values_masked",
        "manifests_masked",
        "manifests_digest",
        "secret_paths",
        "operation",
        "commit",
        "created_at",
    )


class OperationStepInline(ReadOnly, admin.TabularInline):
    model = OperationStep
    fields = ("position", "name", "state", "started_at", "finished_at", "message", "log")
    readonly_fields = fields
    extra = 0


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    inlines = [OperationStepInline]
    list_display = ("id", "instance", "kind", "state", "requested_by", "created_at", "attempt")
    list_filter = ("kind", "state")
    search_fields = ("instance__name", "instance__namespace__name", "requested_by", "error")
    list_select_related = ("instance", "instance__namespace")
    date_hierarchy = "created_at"
    # values_encrypted holds the user's values, secrets included, and the engine's
    # context the encrypted outputs of its steps: both left out on purpose.
    fields = (
        "instance",
        "kind",
        "state",
        "requested_by",
        "params",
        "from_revision",
        "result_revision",
        "attempt",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
    )


@admin.register(OperationStep)
class OperationStepAdmin(ReadOnlyAdmin):
    list_display = ("operation", "position", "name", "state", "started_at", "finished_at")
    list_filter = ("state", "name")
    search_fields = ("operation__instance__name", "message")
    list_select_related = ("operation", "operation__instance", "operation__instance__namespace")
    fields = (
        "operation",
        "position",
        "name",
        "state",
        "started_at",
        "finished_at",
        "message",
        "log",
    )
