"""The admin console: resource profiles are saved through their services (audited
there); builds are records of what ran and are read-only here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from builds.models import Build, ResourceProfile
from builds.services.profiles import profile_create, profile_delete, profile_update
from portal.admin import AuditedAdmin, admin_actor
from portal.services.errors import ServiceError


@admin.register(ResourceProfile)
class ResourceProfileAdmin(AuditedAdmin):
    audited_by_services = True
    list_display = ("name", "description", "updated_at")
    search_fields = ("name", "description")
    fields = ("name", "description", "values", "allowed_hosts")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("name",) if obj else ()

    def save_model(
        self, request: HttpRequest, obj: ResourceProfile, form: Any, change: bool
    ) -> None:
        actor = admin_actor(request)
        try:
            if change:
                profile_update(
                    actor=actor,
                    profile=obj,
                    description=obj.description,
                    values=obj.values or {},
                    allowed_hosts=obj.allowed_hosts or [],
                )
                return
            created = profile_create(
                actor=actor,
                name=obj.name,
                description=obj.description,
                values=obj.values or {},
                allowed_hosts=obj.allowed_hosts or [],
            )
        except ServiceError as exc:
            self._refused(request, exc)
            return
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db

    def delete_model(self, request: HttpRequest, obj: ResourceProfile) -> None:
        profile_delete(actor=admin_actor(request), profile=obj)


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = ("pk", "state", "source", "profile_name", "created_by_label", "created_at")
    list_filter = ("state", "source_kind", "strict")
    search_fields = ("source", "app_name", "created_by_label")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
