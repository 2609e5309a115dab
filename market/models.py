"""Market domain models. Namespaces live here because install workflows use them."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.models import Team, slug_validator


class DeployTarget(models.TextChoices):
    GITOPS = "gitops", "GitOps repository"


class Namespace(models.Model):
    """Where instances are installed. Owned by one team, bound to a deploy target."""

    name = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="namespaces")
    target = models.CharField(
        max_length=32, choices=DeployTarget.choices, default=DeployTarget.GITOPS
    )
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
