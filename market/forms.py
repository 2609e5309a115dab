"""Browser forms of the market pages. They parse input only; the rules (who may
publish where, what a package or a market location must be) live in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.db.models import QuerySet
from django.template.defaultfilters import filesizeformat

from guards.slugs import SLUG_MAX_LENGTH, validate_slug
from market.models import Market
from market.signing import MAX_ROOT_BYTES
from portal.models import Team

SORT_CHOICES = [("name", "Name"), ("updated", "Last update")]


class CatalogueFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Keyword")
    category = forms.ChoiceField(required=False, label="Category")
    market = forms.ChoiceField(required=False, label="Market")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, label="Sort by")

    def __init__(self, *args: Any, categories: list[str], markets: list[str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        category_field = self.fields["category"]
        market_field = self.fields["market"]
        assert isinstance(category_field, forms.ChoiceField)
        assert isinstance(market_field, forms.ChoiceField)
        category_field.choices = [("", "All categories")] + [
            (c, c.replace("-", " ").capitalize()) for c in categories
        ]
        market_field.choices = [("", "All markets")] + [(m, m) for m in markets]

    def filters(self) -> dict[str, str]:
        """The filters to apply: an unknown category, market or sort is ignored,
        not an error, so an old bookmark still lists something."""
        if self.is_valid():
            data = self.cleaned_data
            return {
                "q": data["q"].strip(),
                "category": data["category"],
                "market": data["market"],
                "sort": data["sort"] or "name",
            }
        raw = self.data
        return {
            "q": str(raw.get("q", ""))[:200].strip(),
            "category": "",
            "market": "",
            "sort": "updated" if raw.get("sort") == "updated" else "name",
        }


class PublishForm(forms.Form):
    market = forms.ModelChoiceField(
        queryset=Market.objects.none(),
        to_field_name="name",
        empty_label=None,
        help_text="Only writable markets you may publish to are listed.",
    )
    archive = forms.FileField(
        label="Package archive",
        widget=forms.ClearableFileInput(attrs={"accept": ".tgz,application/gzip"}),
    )

    def __init__(self, *args: Any, markets: QuerySet[Market], **kwargs: Any):
        super().__init__(*args, **kwargs)
        market_field = self.fields["market"]
        assert isinstance(market_field, forms.ModelChoiceField)
        market_field.queryset = markets
        market_field.error_messages["invalid_choice"] = (
            "You may not publish to that market, or it does not exist."
        )
        archive_field = self.fields["archive"]
        archive_field.help_text = (
            f"A NAME-VERSION.tgz built with manage.py package_build, at most "
            f"{filesizeformat(settings.PACKAGE_MAX_ARCHIVE_BYTES)}."
        )

    def clean_archive(self) -> Any:
        upload = self.cleaned_data["archive"]
        limit = settings.PACKAGE_MAX_ARCHIVE_BYTES
        if upload.size is not None and upload.size > limit:
            raise forms.ValidationError(
                f"The archive is {filesizeformat(upload.size)}; the largest accepted is "
                f"{filesizeformat(limit)}.",
                code="too_large",
            )
        return upload


class MarketAddForm(forms.Form):
    name = forms.CharField(
        max_length=SLUG_MAX_LENGTH,
        validators=[validate_slug],
        help_text="Lowercase letters, digits and dashes; used in URLs.",
    )
    description = forms.CharField(max_length=500, required=False)
    location = forms.CharField(
        max_length=1000,
        help_text="A path, file://, s3://bucket/prefix or http(s):// URL of a format-1 market.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    endpoint_url = forms.CharField(
        max_length=500,
        required=False,
        label="S3 endpoint URL",
        help_text="For MinIO, Aliyun OSS and other S3-compatible stores; empty for AWS.",
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    access_key_id = forms.CharField(
        max_length=500,
        required=False,
        label="Access key id",
        # Never rendered back: a failed submission asks for it again.
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
    )
    secret_access_key = forms.CharField(
        max_length=500,
        required=False,
        label="Secret access key",
        help_text="Stored encrypted and never shown again. Empty: the usual AWS variables.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
    )
    writable = forms.BooleanField(required=False, label="Writable: this platform publishes into it")
    allow_private_network = forms.BooleanField(
        required=False,
        label="Allow private network addresses (loopback, link-local, private ranges)",
    )
    is_private = forms.BooleanField(
        required=False, label="Private: serving it at /markets/<name>/ requires a token"
    )
    publishers = forms.ModelMultipleChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        label="Publishing teams",
        help_text="Operators and admins of these teams may publish; staff always may.",
    )
    trust_root = forms.FileField(
        required=False,
        label="Trusted root.json",
        help_text="For a signed market: its root.json, obtained from its publishers through"
        " a channel you trust. Every sync then checks market.json's signatures against it"
        " and refuses a market that was tampered with, rolled back or left to expire.",
        widget=forms.ClearableFileInput(attrs={"accept": ".json,application/json"}),
    )

    def clean_trust_root(self) -> bytes | None:
        upload = self.cleaned_data.get("trust_root")
        if not upload:
            return None
        if upload.size is not None and upload.size > MAX_ROOT_BYTES:
            raise forms.ValidationError(
                f"A root.json is at most {filesizeformat(MAX_ROOT_BYTES)}.", code="too_large"
            )
        return bytes(upload.read(MAX_ROOT_BYTES + 1))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        key_id, secret = data.get("access_key_id"), data.get("secret_access_key")
        if bool(key_id) != bool(secret):
            self.add_error(
                "secret_access_key", "Give both the access key id and the secret, or neither."
            )
        return data

    def credentials(self) -> dict[str, str] | None:
        data = self.cleaned_data
        if not data.get("access_key_id"):
            return None
        return {
            "aws_access_key_id": data["access_key_id"],
            "aws_secret_access_key": data["secret_access_key"],
        }
