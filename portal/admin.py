"""The admin console for accounts, teams, tokens and the audit log.

Every change made here leaves one audit record, like a change made anywhere else:
models with services (teams, memberships, namespaces, tokens) are saved through
those services, which write the record; the rest (users, groups...) are audited
by AuditedAdmin's log hooks, which Django calls inside the same transaction as
the change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Count, Model, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from portal.actors import Actor, client_ip
from portal.forms import RateLimitedAdminAuthenticationForm
from portal.models import ApiToken, AuditEvent, AuthFailureCount, Membership, Role, Team
from portal.services.audit import audit_record
from portal.services.errors import ServiceError
from portal.services.teams import (
    RESERVED_NAMES,
    membership_remove,
    membership_set,
    team_create,
    team_delete,
    team_update,
)
from portal.services.tokens import token_revoke

# Failed admin logins count against the same per-client limit as the site's login.
admin.site.login_form = RateLimitedAdminAuthenticationForm
admin.site.site_header = "Ops Market administration"
admin.site.site_title = "Ops Market admin"


def admin_actor(request: HttpRequest) -> Actor:
    return Actor(user=request.user, via="admin", ip_address=client_ip(request))


class AuditedAdmin(admin.ModelAdmin):
    """Records admin additions, changes and deletions in the audit log.

    Django calls the log hooks inside the transaction of the change. A
    ModelAdmin whose saves go through services (which audit themselves) sets
    `audited_by_services` so nothing is recorded twice."""

    audited_by_services = False

    def _audit(self, request: HttpRequest, obj: Model, verb: str, message: Any = None) -> None:
        if self.audited_by_services:
            return
        detail = {"change": message} if message else {}
        audit_record(
            actor=admin_actor(request),
            action=f"{obj._meta.model_name}.{verb}",
            target=obj,
            detail=detail,
        )

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        self._audit(request, obj, "create")
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> Any:
        # An empty message means "No fields changed": nothing to record.
        if message:
            self._audit(request, obj, "update", message)
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        for obj in queryset:
            self._audit(request, obj, "delete")
        return super().log_deletions(request, queryset)

    def _refused(self, request: HttpRequest, exc: ServiceError) -> None:
        self.message_user(request, exc.message, level=messages.ERROR)


# --- users and groups ---------------------------------------------------------

User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


class MembershipOfUserInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ("team", "role", "created_at")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "Team memberships (manage them on the team)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    inlines = [MembershipOfUserInline]
    list_display = ("username", "email", "is_staff", "is_active", "last_login", "date_joined")
    list_filter = ("is_staff", "is_superuser", "is_active", "memberships__team")


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    pass


# --- teams and members ------------------------------------------------------


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)


class TeamAdminForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ("name", "description")

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"])
        if name in RESERVED_NAMES:
            raise ValidationError(f"“{name}” is reserved.")
        return name


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    audited_by_services = True
    form = TeamAdminForm
    inlines = [MembershipInline]
    list_display = ("name", "description", "member_count", "namespace_count", "created_at")
    search_fields = ("name", "description", "memberships__user__username")
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                _members=Count("memberships", distinct=True),
                _namespaces=Count("namespaces", distinct=True),
            )
        )

    @admin.display(description="Members", ordering="_members")
    def member_count(self, obj: Any) -> int:
        return int(obj._members)

    @admin.display(description="Namespaces", ordering="_namespaces")
    def namespace_count(self, obj: Any) -> int:
        return int(obj._namespaces)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The name is in URLs and scripts; it is set once.
        return ("name", "created_at") if obj else ("created_at",)

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        actor = admin_actor(request)
        if change:
            team_update(actor=actor, team=obj, description=obj.description)
            return
        created = team_create(actor=actor, name=obj.name, description=obj.description)
        # Hand the service's row to the admin, which goes on to save the inlines.
        obj.pk = created.pk
        obj.created_at = created.created_at
        obj._state.adding = False
        obj._state.db = created._state.db

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Membership rows go through membership_set / membership_remove. Admin
        grants run first and removals last, so handing a team from one admin to
        another in one save never trips the last-admin rule."""
        team = form.instance
        actor = admin_actor(request)
        sets: list[tuple[Any, str]] = []
        removals: list[Any] = []
        for row in formset.forms:
            previous = Membership.objects.filter(pk=row.instance.pk).select_related("user").first()
            if row in formset.deleted_forms:
                if previous is not None:
                    removals.append(previous.user)
                continue
            if not row.has_changed() or not row.cleaned_data:
                continue
            sets.append((row.cleaned_data["user"], row.cleaned_data["role"]))
            if previous is not None and previous.user_id != row.cleaned_data["user"].pk:
                removals.append(previous.user)
        sets.sort(key=lambda pair: pair[1] != Role.ADMIN)
        # The admin's change message reads these, as formset.save() would set them.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        try:
            for user, role in sets:
                membership, created = membership_set(actor=actor, team=team, user=user, role=role)
                if created:
                    formset.new_objects.append(membership)
                else:
                    formset.changed_objects.append((membership, ["role"]))
            for user in removals:
                membership_remove(actor=actor, team=team, user=user)
                formset.deleted_objects.append(Membership(team=team, user=user))
        except ServiceError as exc:
            self._refused(request, exc)

    def delete_model(self, request: HttpRequest, obj: Team) -> None:
        try:
            team_delete(actor=admin_actor(request), team=obj)
        except ServiceError as exc:
            self._refused(request, exc)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        for team in queryset:
            self.delete_model(request, team)


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    audited_by_services = True
    list_display = ("team", "user", "role", "created_at")
    list_filter = ("role", "team")
    search_fields = ("team__name", "user__username", "user__email")
    autocomplete_fields = ("team", "user")
    list_select_related = ("team", "user")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("team", "user", "created_at") if obj else ("created_at",)

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        try:
            saved, _created = membership_set(
                actor=admin_actor(request), team=obj.team, user=obj.user, role=obj.role
            )
        except ServiceError as exc:
            self._refused(request, exc)
            saved = Membership.objects.filter(team=obj.team, user=obj.user).first() or obj
        obj.pk = saved.pk
        obj._state.adding = False
        obj._state.db = saved._state.db

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            membership_remove(actor=admin_actor(request), team=obj.team, user=obj.user)
        except ServiceError as exc:
            self._refused(request, exc)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("team", "user"):
            self.delete_model(request, membership)


# --- API tokens ---------------------------------------------------------------


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        now = timezone.now()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now)
            )
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdmin):
    """Tokens are created by their owners (profile page, API, token_create) because
    the secret is shown once to whoever creates it; here they are only revoked."""

    audited_by_services = True
    list_display = (
        "user",
        "name",
        "prefix",
        "status",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = (TokenStatusFilter, "created_at", "expires_at")
    search_fields = ("user__username", "name", "prefix")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    fields = (
        "user",
        "name",
        "prefix",
        "status",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]

    @admin.display(description="Status")
    def status(self, obj: ApiToken) -> str:
        return obj.status

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoke instead: the row keeps the audit trail's token names meaningful.
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("portal.change_apitoken"))

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        actor = admin_actor(request)
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            token_revoke(actor=actor, token=token)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", level=messages.SUCCESS)


# --- audit log ----------------------------------------------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is appended to by services, never edited."""

    list_display = (
        "created_at",
        "actor_label",
        "token_label",
        "via",
        "action",
        "target_type",
        "target_repr",
        "ip_address",
    )
    list_filter = ("action", "via", "target_type", "created_at")
    search_fields = (
        "actor_label",
        "token_label",
        "action",
        "target_repr",
        "target_id",
        "ip_address",
    )
    date_hierarchy = "created_at"
    list_per_page = 100
    readonly_fields = (
        "created_at",
        "actor",
        "actor_label",
        "token",
        "token_label",
        "via",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "ip_address",
        "detail",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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


@admin.register(AuthFailureCount)
class AuthFailureCountAdmin(ReadOnlyAdmin):
    """Which addresses failed to authenticate lately (portal/ratelimit.py). Rows
    change only through the limiter; a window ends by itself."""

    list_display = ("key", "count", "window_start")
    search_fields = ("key",)
    ordering = ("-window_start",)
