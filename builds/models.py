"""Resource profiles and source builds (SPEC section 7)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from guards.slugs import validate_slug


class ResourceProfile(models.Model):
    """Named values for the build resource variables (images, mirrors, binaries) and
    the hosts a strict build may name. Only the values it sets override the
    environment defaults; see builds.selectors.effective_resources."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_slug])
    description = models.CharField(max_length=200, blank=True)
    values = models.JSONField(default=dict, blank=True)
    allowed_hosts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Build(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class SourceKind(models.TextChoices):
        ARCHIVE = "archive", "Uploaded archive"
        GIT = "git", "Git repository"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_by_label = models.CharField(max_length=150, blank=True)
    via = models.CharField(max_length=16, default="web")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    source_kind = models.CharField(max_length=16, choices=SourceKind.choices)
    # The upload's file name, or the git URL (never with credentials).
    source = models.CharField(max_length=1000)
    ref = models.CharField(max_length=200, blank=True)
    # The uploaded archive, under BUILDS_DIR/uploads until the worker has used it.
    upload = models.CharField(max_length=200, blank=True, editable=False)
    commit_sha = models.CharField(max_length=64, blank=True)
    profile = models.ForeignKey(
        ResourceProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="builds"
    )
    profile_name = models.CharField(max_length=63, blank=True)
    overrides = models.JSONField(default=dict, blank=True)
    strict = models.BooleanField(default=False)
    publish_market = models.ForeignKey(
        "market.Market", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Snapshots taken when the build is created: [{"name", "value", "origin"}] and the
    # allowed hosts, so the record says what the build used even if the profile changes.
    resources = models.JSONField(default=list, blank=True)
    allowed_hosts = models.JSONField(default=list, blank=True)
    lint_report = models.JSONField(default=list, blank=True)
    steps = models.JSONField(default=list, blank=True)
    log = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    app_name = models.CharField(max_length=63, blank=True)
    app_version = models.CharField(max_length=100, blank=True)
    archive_name = models.CharField(max_length=200, blank=True)
    digest = models.CharField(max_length=80, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    published = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"build {self.pk} ({self.state})"

    @property
    def done(self) -> bool:
        return self.state in (self.State.SUCCEEDED, self.State.FAILED)
