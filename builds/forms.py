"""Browser forms of the builds pages: input parsing only; rules live in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet

from builds.models import ResourceProfile
from guards.slugs import SLUG_MAX_LENGTH, validate_slug
from market.models import Market


def parse_assignments(text: str, *, field: str) -> dict[str, str]:
    """``NAME=value`` lines (blank lines and ``#`` comments ignored)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise forms.ValidationError(f"line {number}: write NAME=value")
        values[name.strip()] = value.strip()
    return values


def format_assignments(values: dict[str, str]) -> str:
    return "\n".join(f"{name}={value}" for name, value in sorted(values.items()))


class BuildForm(forms.Form):
    archive = forms.FileField(
        required=False,
        label="Source archive",
        help_text="A .tar.gz or .zip of the package source (manifest.yaml at its top).",
    )
    git_url = forms.CharField(
        required=False,
        max_length=1000,
        label="Git repository",
        help_text="https:// (or, for staff, file://) URL of a repository.",
    )
    ref = forms.CharField(
        required=False, max_length=200, label="Ref", help_text="Branch, tag or commit."
    )
    profile = forms.ModelChoiceField(
        queryset=ResourceProfile.objects.none(),
        to_field_name="name",
        required=False,
        empty_label="(environment defaults only)",
        label="Resource profile",
    )
    overrides = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Overrides for this build",
        help_text="NAME=value lines; they win over the profile and the environment.",
    )
    strict = forms.BooleanField(
        required=False,
        label="Strict",
        help_text="Fail when a file names a host the profile does not allow.",
    )
    publish_market = forms.ModelChoiceField(
        queryset=Market.objects.none(),
        to_field_name="name",
        required=False,
        empty_label="(do not publish)",
        label="Publish to",
    )

    def __init__(self, *args: Any, markets: QuerySet[Market], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["profile"].queryset = ResourceProfile.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["publish_market"].queryset = markets  # type: ignore[attr-defined]

    def clean_archive(self) -> Any:
        upload = self.cleaned_data.get("archive")
        limit = settings.PACKAGE_MAX_ARCHIVE_BYTES
        if upload is not None and upload.size is not None and upload.size > limit:
            raise forms.ValidationError(
                f"The archive is {upload.size} bytes; the limit is {limit}.", code="too_large"
            )
        return upload

    def clean_overrides(self) -> dict[str, str]:
        return parse_assignments(self.cleaned_data.get("overrides") or "", field="overrides")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("archive")) == bool((data.get("git_url") or "").strip()):
            raise forms.ValidationError("Give either a source archive or a git repository.")
        return data


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=SLUG_MAX_LENGTH, validators=[validate_slug])
    description = forms.CharField(max_length=200, required=False)
    values = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        label="Variables",
        help_text="NAME=value lines, e.g. PYTHON_PIP=https://pypi.corp.example/simple. "
        "Unset variables keep the environment's value.",
    )
    allowed_hosts = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Allowed hosts",
        help_text="One per line; *.corp.example allows its subdomains. The hosts of the "
        "variables above are allowed without being listed.",
    )

    def clean_values(self) -> dict[str, str]:
        return parse_assignments(self.cleaned_data.get("values") or "", field="values")

    def clean_allowed_hosts(self) -> list[str]:
        text = self.cleaned_data.get("allowed_hosts") or ""
        return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


class BundleExportForm(forms.Form):
    market = forms.ModelChoiceField(
        queryset=Market.objects.order_by("name"), to_field_name="name", empty_label=None
    )
    apps = forms.CharField(
        label="Apps",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="APP or APP@RANGE, one per line or space-separated; their dependencies "
        "are added.",
    )

    def clean_apps(self) -> list[str]:
        return (self.cleaned_data.get("apps") or "").split()


class BundleImportForm(forms.Form):
    name = forms.CharField(
        max_length=SLUG_MAX_LENGTH, validators=[validate_slug], label="Market name"
    )
    bundle = forms.FileField(help_text="A bundle written by market_export or the export form.")
