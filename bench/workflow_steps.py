"""Benchmark: where one operation's time goes, step by step, in this process.

    .venv/bin/python bench/workflow_steps.py [--operations 100]

bench/workflow.py measures throughput through real workers; this one runs the same
installs with ``operation_execute`` called directly (no broker), and prints per
operation the time (wall, and CPU with git's processes) and database
queries of each step, of the engine around them, and of the GitOps apply alone as the
baseline (the same call bench/workflow.py times).
Uses DATABASE_URL's server when set (a fresh database beside it), else SQLite.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.environment import django_environment  # noqa: E402
from bench.market_sync import line  # noqa: E402


def process_cpu() -> float:
    """CPU seconds of this process and of the children it waited for (git; not the
    long-lived render child): steadier than wall time on a machine others share."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-steps-") as tmp:
        workdir = Path(tmp)
        with django_environment(
            workdir, unset=("ELASTICSEARCH_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")
        ) as database:
            return run(args.operations, workdir, database)


def run(count: int, workdir: Path, database: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.workflow import baseline_applies, bench_operator, publish_app
    from deployments.models import Operation
    from deployments.services import instances as instance_services
    from deployments.targets import GitOpsTarget
    from deployments.workflow import engine
    from deployments.workflow.steps import STEPS

    # Executed here, one after another: nothing is sent to a worker.
    instance_services.enqueue_on_commit = lambda *args, **kwargs: None

    market = publish_app(workdir)
    actor, namespace = bench_operator()

    seconds: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    queries: dict[str, int] = defaultdict(int)
    for name, function in list(engine.STEP_FUNCTIONS.items()):

        def timed(run: object, function: object = function, name: str = name) -> str:
            begin, begin_cpu = time.perf_counter(), process_cpu()
            with CaptureQueriesContext(connection) as captured:
                message = function(run)  # type: ignore[operator]
            seconds[name] += time.perf_counter() - begin
            cpu[name] += process_cpu() - begin_cpu
            queries[name] += len(captured.captured_queries)
            return message

        engine.STEP_FUNCTIONS[name] = timed

    ids = [
        str(
            instance_services.instance_install(
                actor=actor,
                namespace=namespace,
                name=f"web-{i:04d}",
                market=market,
                app="bench-web",
                version="1.0.0",
            ).operation.pk
        )
        for i in range(count)
    ]
    # The first operation reads the package and starts the render child: not timed.
    engine.operation_execute(ids.pop(0))
    begin, begin_cpu = time.perf_counter(), process_cpu()
    with CaptureQueriesContext(connection) as captured:
        for operation_id in ids:
            engine.operation_execute(operation_id)
    total, total_cpu = time.perf_counter() - begin, process_cpu() - begin_cpu
    failed = Operation.objects.filter(pk__in=ids).exclude(state="succeeded").count()
    step_total = sum(seconds.values())

    # Every revision here is an install's (number 1): the same call bench/workflow.py times.
    applies = baseline_applies(GitOpsTarget(workdir / "baseline-gitops"), revision_number=1)
    apply_mean = sum(applies) / len(applies)

    n = len(ids)
    print(f"workflow steps bench: {n} installs executed in this process, {database}")
    line("baseline: GitOpsTarget.apply called directly", f"{apply_mean * 1000:.1f}ms", "")
    for name in STEPS["install"]:
        if name in seconds:
            line(
                f"step {name}",
                f"{seconds[name] / n * 1000:.1f}ms ({cpu[name] / n * 1000:.1f}ms cpu)",
                f"{queries[name] / n:.1f} queries",
            )
    engine_cpu = total_cpu - sum(cpu.values())
    line(
        "engine around the steps (claim, states, record)",
        f"{(total - step_total) / n * 1000:.1f}ms ({engine_cpu / n * 1000:.1f}ms cpu)",
        f"{(len(captured.captured_queries) - sum(queries.values())) / n:.1f} queries",
    )
    line(
        "whole operation",
        f"{total / n * 1000:.1f}ms",
        f"ratio {total / n / apply_mean:.2f} to the apply, {failed} failed",
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
