"""Market domain models: subscribed markets and the catalogue their syncs wrote."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from guards.slugs import validate_slug
from portal.models import Team


class Market(models.Model):
    """A subscribed market: a format-1 layout on static storage (SPEC section 3)."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_slug])
    description = models.CharField(max_length=500, blank=True)
    location = models.CharField(
        max_length=1000, help_text="A path, file://, s3://bucket/prefix or http(s):// URL."
    )
    endpoint_url = models.CharField(max_length=500, blank=True)
    # Fernet-encrypted JSON (portal.crypto); never rendered back to anyone.
    credentials_encrypted = models.TextField(blank=True, editable=False)
    writable = models.BooleanField(default=False)
    allow_private_network = models.BooleanField(default=False)
    is_private = models.BooleanField(
        default=False, help_text="Serving it at /markets/<name>/ requires a token."
    )
    publishers = models.ManyToManyField(
        Team,
        blank=True,
        related_name="publishable_markets",
        help_text="Operators and admins of these teams may publish; staff always may.",
    )
    # What the last successful sync saw: the ETag for the conditional GET, and the
    # highest serial, below which a market.json is refused (rollback protection).
    etag = models.CharField(max_length=200, blank=True)
    serial = models.BigIntegerField(default=0)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sync_error = models.CharField(max_length=500, blank=True)
    last_sync_report = models.JSONField(default=dict, blank=True)
    # The root.json this subscription trusts (SPEC 14): the one pinned when it was
    # added, then each newer version a sync verified against the one before.
    # None: signatures are not checked.
    trust_root = models.JSONField(null=True, blank=True, editable=False)
    # What the last sync learnt of market.json's signatures: {"verified": bool,
    # "signers": [{"keyid", "team"}], "expires": ISO date}; {} for an unsigned market.
    signature = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class App(models.Model):
    """One app as one market offers it: the market.json entry plus its latest details."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="apps")
    name = models.CharField(max_length=63, validators=[validate_slug])
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=63, blank=True, db_index=True)
    keywords = models.JSONField(default=list, blank=True)
    latest = models.CharField(max_length=100)
    updated = models.DateTimeField(null=True, blank=True, db_index=True)
    index_digest = models.CharField(max_length=80, blank=True)
    # Details read from the latest archive after sync (README, docs, icon).
    readme = models.TextField(blank=True)
    icon = models.BinaryField(null=True, blank=True, editable=False)
    icon_type = models.CharField(max_length=32, blank=True)
    details_digest = models.CharField(max_length=80, blank=True)
    # The index.json's security advisories (SPEC 14), as a sync checked them:
    # [{"id", "severity", "affected": <npm range>, "fixed": <version or "">, "summary"}].
    advisories = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name", "market__name"]
        constraints = [
            models.UniqueConstraint(fields=["market", "name"], name="app_unique_market_name")
        ]

    def __str__(self) -> str:
        return f"{self.market.name}/{self.name}"


class AppVersion(models.Model):
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=100)
    archive = models.CharField(max_length=300)
    digest = models.CharField(max_length=80)
    size = models.BigIntegerField()
    published = models.DateTimeField(null=True, blank=True)
    publisher = models.CharField(max_length=150, blank=True)
    manifest = models.JSONField(default=dict)
    # Why the publisher yanked this version (SPEC 14); blank: not yanked. A yanked
    # version stays installable only when asked for exactly, with force.
    yanked = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["app", "-published"]
        constraints = [
            models.UniqueConstraint(fields=["app", "version"], name="appversion_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.app}@{self.version}"


class AppDoc(models.Model):
    """A docs/**.md page of an app's latest version."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="docs")
    path = models.CharField(max_length=300)
    title = models.CharField(max_length=200)
    body = models.TextField()

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["app", "path"], name="appdoc_unique_path")]

    def __str__(self) -> str:
        return f"{self.app}: {self.path}"


class SyncJob(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="sync_jobs")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life: while running, the worker's heartbeat; while queued, when
    # its message was last sent (None: when it was created). Older than
    # MARKET_SYNC_STALE_SECONDS means no worker and no message carry the job.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Workers that claimed it; a job whose workers keep dying fails at the limit.
    attempt = models.PositiveSmallIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"sync of {self.market} ({self.state})"


class SigningKey(models.Model):
    """An Ed25519 key a team signs its markets with (SPEC 14). The private half is
    Fernet-encrypted at rest (portal.crypto) and never leaves the signing service."""

    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="signing_keys")
    # sha256 hex of the raw public key, as root.json names it.
    keyid = models.CharField(max_length=64, unique=True)
    public = models.CharField(max_length=64, help_text="Raw public key, base64.")
    private_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # A retired key signs nothing any more; it stays listed so old roots still read.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["team__name", "created_at"]

    def __str__(self) -> str:
        return f"{self.team.name} key {self.keyid[:8]}"
