"""The admin console for namespaces and the market catalogue.

Namespaces are saved through their services. Markets are added with
`market_add` or the API (the storage probe needs to run), removed through
market_remove, and otherwise edited only in the fields that need no probe;
the catalogue (apps, versions, docs, sync jobs) is what syncs wrote and is
read-only here. So are instances, revisions and operations: they change only
through the workflow services, and their encrypted values and manifests are
never shown (the masked copies are)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from market.models import (
    App,
    AppDoc,
    AppVersion,
    Instance,
    Market,
    Namespace,
    Operation,
    OperationStep,
    Revision,
    SyncJob,
)
from market.services.markets import market_remove
from market.services.namespaces import namespace_create, namespace_delete, namespace_update
from portal.admin import AuditedAdmin, admin_actor
from portal.services.errors import ServiceError


@admin.register(Namespace)
class NamespaceAdmin(AuditedAdmin):
    audited_by_services = True
    list_display = ("name", "team", "target", "description", "created_at")
    list_filter = ("target", "team")
    search_fields = ("name", "description", "team__name")
    autocomplete_fields = ("team",)
    list_select_related = ("team",)
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Name and target are folder names in the GitOps repository: set once.
        return ("name", "target", "created_at") if obj else ("created_at",)

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


class ReadOnly:
    """Rows that change only through services or syncs: shown, never edited here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnly, admin.ModelAdmin):
    pass


@admin.register(Market)
class MarketAdmin(AuditedAdmin):
    list_display = ("name", "location", "writable", "is_private", "serial", "last_synced_at")
    list_filter = ("writable", "is_private", "allow_private_network")
    search_fields = ("name", "description", "location")
    filter_horizontal = ("publishers",)
    readonly_fields = (
        "name",
        "location",
        "endpoint_url",
        "writable",
        "allow_private_network",
        "serial",
        "etag",
        "last_synced_at",
        "last_sync_error",
        "last_sync_report",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_staff)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        # Adding needs the storage probe and encrypted credentials: the portal's
        # own form (market_add) does both, so the console sends staff there.
        return redirect("market-add")

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        # market_remove writes the audit record; keep only Django's own log here.
        return admin.ModelAdmin.log_deletions(self, request, queryset)

    def delete_model(self, request: HttpRequest, obj: Market) -> None:
        market_remove(actor=admin_actor(request), market=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Market]) -> None:
        for market in queryset:
            market_remove(actor=admin_actor(request), market=market)


class AppVersionInline(admin.TabularInline):
    model = AppVersion
    fields = ("version", "digest", "size", "published", "publisher")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(App)
class AppAdmin(ReadOnlyAdmin):
    inlines = [AppVersionInline]
    list_display = ("name", "market", "title", "category", "latest", "updated")
    list_filter = ("market", "category")
    search_fields = ("name", "title", "summary")
    list_select_related = ("market",)


@admin.register(AppVersion)
class AppVersionAdmin(ReadOnlyAdmin):
    list_display = ("app", "version", "size", "published", "publisher")
    list_filter = ("app__market",)
    search_fields = ("app__name", "version", "digest", "publisher")
    list_select_related = ("app", "app__market")


@admin.register(AppDoc)
class AppDocAdmin(ReadOnlyAdmin):
    list_display = ("app", "path", "title")
    list_filter = ("app__market",)
    search_fields = ("app__name", "path", "title")
    list_select_related = ("app",)


@admin.register(SyncJob)
class SyncJobAdmin(ReadOnlyAdmin):
    list_display = ("market", "state", "requested_by", "created_at", "finished_at", "error")
    list_filter = ("state", "market")
    search_fields = ("market__name", "requested_by", "error")
    date_hierarchy = "created_at"
    list_select_related = ("market",)


@admin.register(Instance)
class InstanceAdmin(ReadOnlyAdmin):
    list_display = ("name", "namespace", "app_name", "version", "status", "updated_at")
    list_filter = ("status", "market", "namespace__team")
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
