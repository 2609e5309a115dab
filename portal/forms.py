"""Browser forms of accounts, teams and the audit log. They parse input only;
the rules live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from portal.actors import client_ip
from portal.models import Role
from portal.ratelimit import failure_forgive, failure_record
from portal.services.tokens import TOKEN_MAX_DAYS

RATE_LIMITED = "rate_limited"


class RateLimitedLoginMixin:
    """Counts the attempt as a failure before the password is checked and forgives
    it when the password was right (portal/ratelimit.py). Over the limit the
    password is never tested, so guessing costs nothing but time."""

    request: Any

    def clean(self) -> dict[str, Any]:
        client = client_ip(self.request) if self.request is not None else None
        if not failure_record("login", client):
            raise ValidationError(
                "Too many failed logins from your address. Wait a few minutes and try again.",
                code=RATE_LIMITED,
            )
        cleaned = super().clean()  # type: ignore[misc]  # raises on a wrong password
        failure_forgive("login", client)
        return cleaned


class RateLimitedAuthenticationForm(RateLimitedLoginMixin, AuthenticationForm):
    pass


class RateLimitedAdminAuthenticationForm(RateLimitedLoginMixin, AdminAuthenticationForm):
    pass


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “ci-deploy”.")
    days = forms.IntegerField(
        min_value=1,
        max_value=TOKEN_MAX_DAYS,
        initial=90,
        help_text=f"The token stops working after this many days (at most {TOKEN_MAX_DAYS}).",
    )


class TeamCreateForm(forms.Form):
    name = forms.CharField(
        max_length=63, help_text="Lowercase letters, digits and dashes, e.g. “platform-ops”."
    )
    description = forms.CharField(max_length=200, required=False)


class TeamUpdateForm(forms.Form):
    description = forms.CharField(max_length=200, required=False)


class MemberSetForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class NamespaceCreateForm(forms.Form):
    name = forms.CharField(
        max_length=63, help_text="Unique on the site: lowercase letters, digits and dashes."
    )
    description = forms.CharField(max_length=200, required=False)


class AuditFilterForm(forms.Form):
    actor = forms.CharField(max_length=150, required=False, help_text="A username, or “system”.")
    action = forms.CharField(
        max_length=64,
        required=False,
        help_text="“team” for every team.* action.",
        widget=forms.TextInput(attrs={"list": "audit-actions"}),
    )
    target_type = forms.CharField(
        max_length=64,
        required=False,
        label="Target type",
        widget=forms.TextInput(attrs={"list": "audit-target-types"}),
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise ValidationError("“Since” is after “until”.")
        return data
