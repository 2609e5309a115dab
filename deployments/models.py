"""Deployment models: namespaces, the instances installed into them, their revisions
and the operations (with their steps) that the workflow engine runs.

They moved here from the market app with their tables: each Meta names the table it
always had (``market_*``), so existing databases needed no data copy (migration
0001 only moves the models in Django's state)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from guards.slugs import validate_slug
from market.models import Market
from portal.models import Team


class DeployTarget(models.TextChoices):
    GITOPS = "gitops", "GitOps repository"
    KUBERNETES = "kubernetes", "Kubernetes cluster"


class Cluster(models.Model):
    """A Kubernetes cluster registered by staff (SPEC section 9): where the API server
    is, how to trust it, and a token to act with.

    The token is stored encrypted (portal.crypto) and never read back out of the
    portal: pages, the API, the admin and the audit log show only that there is one.
    ``reachable``/``version``/``last_error``/``checked_at`` are the latest check's
    findings, written by cluster_check (at add, then periodically); ``version`` keeps
    the last version seen while the server is unreachable."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_slug])
    server = models.CharField(max_length=500)
    # PEM of the CA(s) that sign the API server's certificate; empty only when
    # insecure_skip_tls_verify was asked for explicitly.
    ca_cert = models.TextField(blank=True)
    insecure_skip_tls_verify = models.BooleanField(default=False)
    token_encrypted = models.TextField()
    allow_private_network = models.BooleanField(default=False)
    description = models.CharField(max_length=200, blank=True)
    reachable = models.BooleanField(null=True, default=None)
    version = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def state(self) -> str:
        """``unknown`` before the first check, then ``reachable``, ``degraded`` (it
        answers, but the check found a problem such as lost rights) or
        ``unreachable``."""
        if self.reachable is None:
            return "unknown"
        if not self.reachable:
            return "unreachable"
        return "degraded" if self.last_error else "reachable"


class Namespace(models.Model):
    """Where instances are installed. Owned by one team, bound to a deploy target."""

    name = models.CharField(max_length=63, unique=True, validators=[validate_slug])
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="namespaces")
    target = models.CharField(
        max_length=32, choices=DeployTarget.choices, default=DeployTarget.GITOPS
    )
    # The cluster of a namespace bound to target "kubernetes" (SPEC section 9), whose
    # Kubernetes namespace has this namespace's name. A cluster that still holds
    # namespaces cannot be removed.
    cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.PROTECT, related_name="namespaces"
    )
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "market_namespace"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class LiveSync(models.TextChoices):
    """Whether what runs is what the portal applied (SPEC section 9)."""

    SYNCED = "synced"
    DRIFTED = "drifted"
    MISSING = "missing"
    COMMITTED = "committed"  # GitOps: in the repository; a controller applies it


class LiveHealth(models.TextChoices):
    HEALTHY = "healthy"
    PROGRESSING = "progressing"
    DEGRADED = "degraded"
    UNKNOWN = "unknown"


class InstanceStatus(models.TextChoices):
    INSTALLING = "installing"
    DEPLOYED = "deployed"
    UPGRADING = "upgrading"
    FAILED = "failed"
    UNINSTALLING = "uninstalling"
    UNINSTALLED = "uninstalled"


class Instance(models.Model):
    """One app from one market installed in one namespace (SPEC section 5).

    An uninstalled instance keeps its row, revisions and operations as history
    until its name is installed again."""

    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="instances")
    name = models.CharField(max_length=53, validators=[validate_slug])
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="instances")
    app_name = models.CharField(max_length=63)
    version = models.CharField(max_length=100, blank=True)
    status = models.CharField(
        max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.INSTALLING
    )
    status_message = models.CharField(max_length=500, blank=True)
    current_revision = models.ForeignKey(
        "Revision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Instances this one was installed with as dependencies: uninstalling one of
    # them is refused while this one is deployed, unless forced.
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, related_name="dependents", blank=True
    )
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # The live state's summary (deployments.services.live): the worst sync and health
    # of its resources when they were last looked at; "" before the first look.
    live_sync = models.CharField(max_length=16, choices=LiveSync.choices, blank=True)
    live_health = models.CharField(max_length=16, choices=LiveHealth.choices, blank=True)
    live_checked_at = models.DateTimeField(null=True, blank=True)
    live_error = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "market_instance"
        ordering = ["namespace__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="instance_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.namespace.name}/{self.name}"

    @property
    def status_label(self) -> str:
        """Worded with the active operation that the selectors annotate
        (``active_kind``, ``active_state``: deployments.selectors.instances)."""
        return instance_label(
            status=self.status,
            active_kind=getattr(self, "active_kind", None) or "",
            active_state=getattr(self, "active_state", None) or "",
        )


class Revision(models.Model):
    """What one successful apply wrote: kept in the database, so no size limit.

    Values and manifests hold secrets, so they are stored encrypted; the masked
    copies are what pages, the API and the search index read."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    app_version = models.CharField(max_length=100)
    archive_digest = models.CharField(max_length=80)
    values_encrypted = models.TextField()
    values_masked = models.JSONField(default=dict)
    manifests_encrypted = models.TextField()
    manifests_masked = models.JSONField(default=dict)
    manifests_digest = models.CharField(max_length=80)
    secret_paths = models.JSONField(default=list)
    operation = models.ForeignKey(
        "Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    commit = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "market_revision"
        ordering = ["instance", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "number"], name="revision_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.instance} r{self.number}"


class OperationKind(models.TextChoices):
    INSTALL = "install"
    UPGRADE = "upgrade"
    ROLLBACK = "rollback"
    UNINSTALL = "uninstall"
    # Re-apply the current revision (SPEC section 9): puts drifted or deleted objects back.
    REPAIR = "repair"


class OperationState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


ACTIVE_OPERATION_STATES = (OperationState.QUEUED, OperationState.RUNNING)

# What an operation of each kind is doing while it runs: an instance being rolled
# back is stored as `upgrading` (SPEC section 5 has no other state for it), and
# people must read "Rolling back".
KIND_DOING = {
    OperationKind.INSTALL: "Installing",
    OperationKind.UPGRADE: "Upgrading",
    OperationKind.ROLLBACK: "Rolling back",
    OperationKind.UNINSTALL: "Uninstalling",
    OperationKind.REPAIR: "Repairing",
}
# Instance states that only last while an operation runs.
BUSY_INSTANCE_STATES = (
    InstanceStatus.INSTALLING,
    InstanceStatus.UPGRADING,
    InstanceStatus.UNINSTALLING,
)


def operation_label(*, kind: str, state: str, undoing: bool = False, retrying: bool = False) -> str:
    """The one wording of an operation's state for people: every badge, list and
    heading says it this way. A running operation says what it does ("Rolling
    back"), not that it runs; one undoing a failed apply, or waiting out a
    transient failure, says that instead."""
    if state == OperationState.RUNNING:
        if undoing:
            return "Undoing"
        if retrying:
            return "Waiting to retry"
        return KIND_DOING.get(kind, "Running")  # type: ignore[call-overload]
    return state.replace("_", " ").capitalize() or "Unknown"


def instance_label(*, status: str, active_kind: str = "", active_state: str = "") -> str:
    """The one wording of an instance's status for people. While an operation is
    active the stored status is coarse (a rollback is `upgrading`), so the
    operation names it: "Rolling back", or "Rollback queued" before a worker
    took it."""
    if status in BUSY_INSTANCE_STATES and active_kind in KIND_DOING:
        if active_state == OperationState.QUEUED:
            return f"{OperationKind(active_kind).label} queued"
        return KIND_DOING[active_kind]  # type: ignore[index]
    return status.replace("_", " ").capitalize() or "Unknown"


class Operation(models.Model):
    """One install / upgrade / rollback / uninstall of an instance, run by the engine."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=16, choices=OperationKind.choices)
    state = models.CharField(
        max_length=16, choices=OperationState.choices, default=OperationState.QUEUED
    )
    requested_by = models.CharField(max_length=150, blank=True)
    # What was asked: version, target revision, force; the user's values sit
    # encrypted beside it because they may hold secrets.
    params = models.JSONField(default=dict, blank=True)
    values_encrypted = models.TextField(blank=True)
    from_revision = models.ForeignKey(
        Revision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The operation that asked for this one: a dependency's install points at the
    # install of the instance that needs it, so pages nest it there. (The engine's
    # own ordering is ``params["after"]`` on the cause; this is the reverse link,
    # indexed, for reads.)
    caused_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="caused"
    )
    result_revision = models.ForeignKey(
        Revision, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Engine bookkeeping: outputs of finished steps so a redelivered task resumes.
    context = models.JSONField(default=dict, blank=True)
    # Two counts, kept apart: `attempt` grows with each worker that takes the
    # operation on (the first, then one per lost worker), `retries` with each
    # transient failure waited out. `retry_at` is set while such a wait runs, so
    # the reaper leaves the operation to its scheduled retry.
    attempt = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "market_operation"
        ordering = ["-created_at"]
        constraints = [
            # The database, not the code, guarantees one active operation per
            # instance: a racing second request fails on insert.
            models.UniqueConstraint(
                fields=["instance"],
                condition=models.Q(state__in=["queued", "running"]),
                name="operation_one_active_per_instance",
            )
        ]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="operation_state_beat")]

    def __str__(self) -> str:
        return f"{self.kind} {self.instance} ({self.state})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_OPERATION_STATES

    @property
    def status_label(self) -> str:
        return operation_label(
            kind=self.kind,
            state=self.state,
            undoing="failure" in (self.context or {}),
            retrying=self.retry_at is not None,
        )


class StepState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class OperationStep(models.Model):
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=32)
    state = models.CharField(max_length=16, choices=StepState.choices, default=StepState.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=1000, blank=True)
    log = models.TextField(blank=True)

    class Meta:
        db_table = "market_operationstep"
        ordering = ["operation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "position"], name="step_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.operation_id} {self.name} ({self.state})"


class ResourceState(models.Model):
    """One object of an instance's current revision as last seen in its target
    (SPEC section 9): sync and health, and for a drifted object the diff of the
    applied fields against the live ones (secret values masked)."""

    instance = models.ForeignKey(Instance, on_delete=models.CASCADE, related_name="resources")
    position = models.PositiveIntegerField(default=0)  # apply order
    api_version = models.CharField(max_length=253)
    kind = models.CharField(max_length=63)
    namespace = models.CharField(max_length=63, blank=True)  # "" for cluster-scoped
    name = models.CharField(max_length=253)
    sync = models.CharField(max_length=16, choices=LiveSync.choices)
    health = models.CharField(max_length=16, choices=LiveHealth.choices)
    message = models.CharField(max_length=500, blank=True)
    diff = models.TextField(blank=True)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["instance", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "api_version", "kind", "namespace", "name"],
                name="resource_state_unique_object",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"
