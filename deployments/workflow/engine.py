"""Runs one operation: claim it, run its steps in order, finish or undo.

Invariants:
- A worker holds an operation while its heartbeat is fresh. Claiming is a
  compare-and-set on the row, so two deliveries of one task never run it at once.
- A step that finished is never run again; a step that was running when its
  worker died is run again, which is safe because every step is idempotent
  (the target finds an earlier commit by the operation id).
- Final states are written in one transaction with the revision and the audit
  record, and the search index hears of them only after that commits.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Field, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from deployments.models import (
    Instance,
    InstanceStatus,
    Operation,
    OperationKind,
    OperationState,
    OperationStep,
    Revision,
    StepState,
)
from deployments.targets import TargetError, TargetUnavailable, target_for
from deployments.workflow.errors import StepFailed, StepTransient
from deployments.workflow.steps import STEP_FUNCTIONS, Run, step_may_wait
from notifications.tasks import operation_failed_task
from portal.actors import Actor
from portal.crypto import decrypt_json
from portal.heartbeat import heartbeat
from portal.queue import backoff_countdown, enqueue_on_commit
from portal.services.audit import audit_record
from search.services.indexing import index_later
from telemetry.discovery import instance_targets_discover_later

log = logging.getLogger(__name__)


def _stale_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.WORKFLOW_STALE_SECONDS)


def operation_claim(operation_id: str) -> bool:
    """Take the operation if it is queued, or running under a worker whose heartbeat
    stopped. False when it is finished or another live worker holds it.

    A claim after a scheduled retry (``retry_at`` set) goes on with the same
    attempt; any other claim of a running operation takes over from a lost worker
    and counts one more attempt."""
    now = timezone.now()
    claimable = Q(state=OperationState.QUEUED) | Q(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=_stale_before()),
        state=OperationState.RUNNING,
    )
    claimed = Operation.objects.filter(claimable, pk=operation_id).update(
        state=OperationState.RUNNING,
        attempt=F("attempt") + Case(When(retry_at__isnull=False, then=Value(0)), default=Value(1)),
        retry_at=None,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), Value(now)),
    )
    return claimed == 1


def retry_countdown(retries: int) -> int:
    """Seconds to wait before retry number ``retries + 1``: exponential, capped."""
    return backoff_countdown(
        retries,
        base=settings.WORKFLOW_RETRY_BACKOFF_SECONDS,
        cap=settings.WORKFLOW_RETRY_BACKOFF_MAX_SECONDS,
    )


def _retry_later(run: Run) -> int:
    """Hand the operation back until its retry is due: no heartbeat (any delivery
    may claim it), one more retry counted, and ``retry_at`` telling the reaper that
    a message is already on its way."""
    countdown = retry_countdown(run.operation.retries)
    Operation.objects.filter(pk=run.operation.pk, state=OperationState.RUNNING).update(
        heartbeat_at=None,
        retries=F("retries") + 1,
        retry_at=timezone.now() + timedelta(seconds=countdown),
    )
    return countdown


def _load(operation_id: str) -> Run:
    operation = Operation.objects.select_related(
        "instance", "instance__namespace", "instance__namespace__team", "from_revision"
    ).get(pk=operation_id)
    return Run(operation=operation, instance=operation.instance, context=dict(operation.context))


def _save_context(run: Run) -> None:
    Operation.objects.filter(pk=run.operation.pk).update(context=run.context)


def operation_execute(operation_id: str) -> int | None:
    """Run the operation's remaining steps. A domain failure ends the operation and
    undoes what it applied; a transient one (StepTransient) is waited out.

    Steps: claim (or return); past the attempt limit, fail; otherwise, for each
    step not finished: mark it running, run it, save the context, mark it done;
    then record the revision and final states in one transaction.

    Returns None when the operation needs nothing more from this delivery, or the
    seconds after which the caller must deliver it again (a transient failure
    within the retry budget; past it, the operation fails at the step that kept
    failing and is undone)."""
    if not operation_claim(operation_id):
        return None
    run = _load(operation_id)
    beating = Operation.objects.filter(pk=operation_id, state=OperationState.RUNNING)
    with heartbeat(
        beating, every=settings.WORKFLOW_HEARTBEAT_SECONDS, name=f"operation {operation_id}"
    ):
        try:
            _run_steps(run)
        except StepTransient as exc:
            # The context is saved already: by the flush before a step's retry, or
            # by _fail before an undo that could not reach the target.
            return _transient(run, exc)
    return None


def _transient(run: Run, exc: StepTransient) -> int | None:
    """Retry later, or, once the retries are spent, fail and undo. An undo that
    itself cannot reach the target is retried until it can: the context keeps the
    failure, so the next delivery finishes the undo rather than the steps."""
    retries = run.operation.retries
    if retries >= settings.WORKFLOW_MAX_RETRIES and "failure" not in run.context:
        try:
            _fail(run, _unfinished_step(run), f"gave up after {retries + 1} tries: {exc}")
        except StepTransient:
            log.warning("operation %s: undo could not reach the target", run.operation.pk)
        else:
            return None
    return _retry_later(run)


def _run_steps(run: Run) -> None:
    if "failure" in run.context:  # a worker died while undoing: finish the undo
        _fail(run, run.context["failure"]["step"], run.context["failure"]["message"])
        return
    if run.operation.attempt > settings.WORKFLOW_MAX_ATTEMPTS:
        name = _unfinished_step(run)
        _fail(run, name, f"worker lost {run.operation.attempt - 1} times during {name}")
        return
    # Step states are written at commit points, not per step: before a step that
    # may take long (step_may_wait: its page shows it running), on a failure or a
    # retry, and with the record. A quick step's start and success wait in
    # ``pending`` for the next commit point, so an install of a package the worker
    # has read before costs three commits instead of seven (commits, not statements,
    # are what a step costs most; bench/workflow_steps.py). A worker that dies
    # before a commit point runs those steps again, which is safe: every step is
    # idempotent. The context goes with every commit point that follows a change to
    # it, never after: a step written succeeded always has its context saved.
    pending = _Pending(run)
    for step in run.operation.steps.order_by("position"):
        if step.state in (StepState.SUCCEEDED, StepState.SKIPPED):
            continue
        if step.name == "record":
            _succeed(run, step, pending)
            return
        pending.add(_step_started(step, attempt=run.operation.attempt))
        if step_may_wait(step.name, run):
            pending.flush()
        try:
            message = STEP_FUNCTIONS[step.name](run)
        except StepTransient as exc:
            text = f"retrying: {exc}"
            pending.add(_StepWrite(step.pk, StepState.RUNNING, None, None, text, text))
            pending.flush()
            raise
        except StepFailed as exc:
            pending.add(_StepWrite(step.pk, StepState.RUNNING, None, None, "", f"failed: {exc}"))
            pending.flush()
            _fail(run, step.name, str(exc))
            return
        pending.add(
            _StepWrite(step.pk, StepState.SUCCEEDED, None, timezone.now(), message, message)
        )
    # No record step (not expected): still write the last ones.
    pending.flush()


def _step_started(step: OperationStep, *, attempt: int) -> _StepWrite:
    line = f"attempt {attempt}: started"
    return _StepWrite(step.pk, StepState.RUNNING, timezone.now(), None, "", line)


class _Pending:
    """The step states and the context a run has not committed yet. Whether the
    context changed is read from a copy of it as last saved (taken at each commit
    point), rather than by copying it around every step."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.writes: list[_StepWrite] = []
        self._saved = copy.deepcopy(run.context)

    def add(self, write: _StepWrite) -> None:
        self.writes.append(write)

    @property
    def context_changed(self) -> bool:
        return self.run.context != self._saved

    def flush(self) -> None:
        """Commit the waiting step states, with the context when it changed, in one
        transaction."""
        save_context = self.context_changed
        if not self.writes and not save_context:
            return
        with transaction.atomic():
            if save_context:
                _save_context(self.run)
            _steps_write(self.writes)
        self.writes.clear()
        if save_context:
            self._saved = copy.deepcopy(self.run.context)


class _StepWrite(NamedTuple):
    pk: int
    state: str
    started_at: datetime | None  # None: keep the row's
    finished_at: datetime | None  # None: keep the row's
    message: str
    log_line: str  # appended to the row's log, timestamped; "" appends nothing


def _steps_write(writes: list[_StepWrite]) -> None:
    """Write step rows with one parametrised UPDATE, sent as one batch. The log is
    appended in the database: a redelivered attempt adds to what the dead one wrote.

    Not the ORM: the same UPDATE built with CASE expressions for several rows cost
    about 1.5 ms of CPU each time, a third of the engine's own time per operation
    (bench/workflow_steps.py); this costs a tenth of that."""
    if not writes:
        return
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (
            w.state,
            adapt(w.started_at),
            adapt(w.finished_at),
            w.message[:1000],
            _stamped(w.log_line) if w.log_line else "",
            w.pk,
        )
        for w in writes
    ]
    with connection.cursor() as cursor:
        cursor.executemany(_step_update_sql(), rows)


@cache
def _step_update_sql() -> str:
    meta = OperationStep._meta
    table = connection.ops.quote_name(meta.db_table)
    state, started, finished, message, log, pk = (
        connection.ops.quote_name(field.column)
        for name in ("state", "started_at", "finished_at", "message", "log", "id")
        if isinstance(field := meta.get_field(name), Field)
    )
    # Names from the model's _meta, quoted; every value is a parameter.
    return (
        f"UPDATE {table} SET {state} = %s, {started} = COALESCE(%s, {started}),"  # noqa: S608
        f" {finished} = COALESCE(%s, {finished}), {message} = %s, {log} = {log} || %s"
        f" WHERE {pk} = %s"
    )


def _stamped(text: str) -> str:
    return f"{timezone.now().strftime('%H:%M:%S')} {text[:1000]}\n"


def _unfinished_step(run: Run) -> str:
    """The step the operation stopped in: the first one not done."""
    step = (
        run.operation.steps.exclude(state__in=[StepState.SUCCEEDED, StepState.SKIPPED])
        .order_by("position")
        .first()
    )
    return step.name if step else "record"


def _succeed(run: Run, step: OperationStep, pending: _Pending) -> None:
    """Record the revision and the final states in one transaction, with the step
    states not written yet (``pending``) and the context when a step changed it."""
    try:
        _succeed_write(run, step, pending)
    except IntegrityError:
        # revision_unique_number: another delivery recorded this very revision and
        # finished the operation meanwhile (the insert is not guarded by a read).
        number = int(run.context["revision_number"])
        if not Revision.objects.filter(instance=run.instance, number=number).exists():
            raise


def _succeed_write(run: Run, step: OperationStep, pending: _Pending) -> None:
    operation, instance = run.operation, run.instance
    now = timezone.now()
    with transaction.atomic():
        if operation.kind == OperationKind.UNINSTALL:
            Instance.objects.filter(pk=instance.pk).update(
                status=InstanceStatus.UNINSTALLED,
                status_message="",
                current_revision=None,
                updated_at=now,
            )
            instance.depends_on.clear()
            revision = None
            message = "instance uninstalled"
        elif operation.kind == OperationKind.REPAIR:
            # A repair applies the current revision again and records no new one.
            revision = Revision.objects.get(
                instance=instance, number=run.context["revision_number"]
            )
            Instance.objects.filter(pk=instance.pk).update(
                status=InstanceStatus.DEPLOYED, status_message="", updated_at=now
            )
            message = f"revision {revision.number} applied again"
        else:
            revision = Revision.objects.create(
                instance=instance,
                number=run.context["revision_number"],
                app_version=run.context["version"],
                archive_digest=run.context.get("archive_digest", ""),
                values_encrypted=run.context["values"],
                values_masked=run.context["values_masked"],
                manifests_encrypted=run.context["manifests"],
                manifests_masked=run.context["manifests_masked"],
                manifests_digest=run.context["digest"],
                secret_paths=run.context["secret_paths"],
                operation=operation,
                commit=run.context.get("commit", ""),
            )
            Instance.objects.filter(pk=instance.pk).update(
                status=InstanceStatus.DEPLOYED,
                status_message="",
                version=run.context["version"],
                current_revision=revision,
                updated_at=now,
            )
            message = f"revision {revision.number} recorded"
        final = {"context": run.context} if pending.context_changed else {}
        finished = Operation.objects.filter(pk=operation.pk, state=OperationState.RUNNING).update(
            state=OperationState.SUCCEEDED,
            finished_at=now,
            heartbeat_at=None,
            result_revision=revision,
            **final,
        )
        if finished != 1:  # another delivery finished it meanwhile
            transaction.set_rollback(True)
            return
        _steps_write(
            [*pending.writes, _StepWrite(step.pk, StepState.SUCCEEDED, now, now, message, "")]
        )
        audit_record(
            actor=Actor.system(),
            action=f"operation.{operation.kind}.succeeded",
            target=instance,
            detail={
                "operation": str(operation.pk),
                "version": run.context.get("version"),
                "commit": run.context.get("commit", ""),
                "requested_by": operation.requested_by,
            },
        )
        # The search index hears of the new state once this transaction commits.
        index_later("instance", [instance.pk])
        # So do the metrics: the pods changed (or are gone), find them again now.
        instance_targets_discover_later(instance=instance)


def _undo(run: Run) -> tuple[str, str, bool]:
    """Put the target back as it was before the operation, when apply wrote to it.

    Returns (operation state, sentence for the user, whether the instance still
    runs its current revision). The undo is its own commit with its own id, so a
    redelivered undo finds it and writes nothing twice."""
    operation, instance = run.operation, run.instance
    target = target_for(instance.namespace)
    previous = operation.from_revision
    intact = previous is not None
    if target.find(str(operation.pk), instance.namespace.name, instance.name) is None:
        # What a killed apply wrote but never recorded (files, objects) goes.
        target.repair(instance.namespace.name, instance.name)
        return OperationState.FAILED, "nothing was applied", intact
    if operation.kind == OperationKind.UNINSTALL:
        return OperationState.FAILED, "its files were already removed", False
    if previous is None:
        target.remove(run.change(kind="uninstall", undo=True))
        return OperationState.FAILED, "its files were removed from the target", False
    target.apply(
        run.change(kind="rollback", undo=True, version=previous.app_version),
        decrypt_json(previous.manifests_encrypted),
    )
    return OperationState.ROLLED_BACK, f"revision {previous.number} was restored", True


def _fail(run: Run, step_name: str, message: str) -> None:
    """End the operation after a domain failure in ``step_name``.

    Steps: remember the failure in the context (a worker that dies while undoing
    resumes the undo); undo what apply wrote; then in one transaction mark the
    failed step, skip the rest, set the operation's and the instance's states
    and write the audit record."""
    operation, instance = run.operation, run.instance
    run.context["failure"] = {"step": step_name, "message": message}
    _save_context(run)
    try:
        state, undone, intact = _undo(run)
    except TargetUnavailable as exc:
        raise StepTransient(f"undo after failure: {exc}") from None
    except TargetError as exc:
        state, undone, intact = OperationState.FAILED, f"undo failed too: {exc}", False
    now = timezone.now()
    error = f"{step_name}: {message}"[:1000]
    note = f"{operation.kind} failed at {error}; {undone}"
    # An instance whose current revision still stands stays deployed; one that
    # never got a revision (a first install), or lost its files, is failed and
    # may be installed again.
    status = InstanceStatus.DEPLOYED if intact else InstanceStatus.FAILED
    with transaction.atomic():
        finished = Operation.objects.filter(pk=operation.pk, state=OperationState.RUNNING).update(
            state=state, error=error, finished_at=now, heartbeat_at=None, context=run.context
        )
        if finished != 1:
            transaction.set_rollback(True)
            return
        steps = OperationStep.objects.filter(operation=operation)
        steps.filter(name=step_name).update(
            state=StepState.FAILED, finished_at=now, message=message[:1000]
        )
        steps.filter(state__in=[StepState.PENDING, StepState.RUNNING]).update(
            state=StepState.SKIPPED, message=f"skipped: {undone}"[:1000]
        )
        Instance.objects.filter(pk=instance.pk).update(
            status=status, status_message=note[:500], updated_at=now
        )
        audit_record(
            actor=Actor.system(),
            action=f"operation.{operation.kind}.{state}",
            target=instance,
            detail={"operation": str(operation.pk), "error": error, "undo": undone},
        )
        # The search index hears of the new state once this transaction commits.
        index_later("instance", [instance.pk])
        # So do the metrics: the pods changed (or are gone), find them again now.
        instance_targets_discover_later(instance=instance)
        # So do subscribers (a lost message: the notifications scan emits it later).
        enqueue_on_commit(operation_failed_task, str(operation.pk))
    log.info("operation %s %s: %s (%s)", operation.pk, state, error, undone)
