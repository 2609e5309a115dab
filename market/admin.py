"""The admin console for the market catalogue.

Markets are added with `market_add` or the API (the storage probe needs to run),
removed through market_remove, and otherwise edited only in the fields that need no
probe; the catalogue (apps, versions, docs, sync jobs) is what syncs wrote and is
read-only here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from market.models import App, AppDoc, AppVersion, Market, SigningKey, SyncJob
from market.services.markets import market_remove
from portal.admin import AuditedAdmin, ReadOnlyAdmin, admin_actor


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


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    # Keys are made and retired by their services (signing_key_create, market_root_rotate):
    # read-only here, and the private part is never shown, not even encrypted.
    list_display = ("keyid", "team", "created_at", "retired_at")
    list_filter = ("team",)
    search_fields = ("keyid", "team__name")
    list_select_related = ("team",)
    fields = ("keyid", "team", "public", "created_at", "retired_at")
