"""Benchmark: install and upgrade operations through real Celery workers.

    .venv/bin/python bench/workflow.py [--instances 200] [--workers 2]

Needs REDIS_URL (the broker; `eval "$(scripts/services.sh env)"`). Sets Django up
on a temporary PORTAL_DATA_DIR and a fresh database beside DATABASE_URL's (SQLite
when unset), publishes a small app in two versions, starts WORKERS worker
processes on a queue of its own, then requests INSTANCES installs and as many
upgrades and waits for every operation. It prints operations per second and the
p50/p95 latency (queued -> finished) of each kind, and as the baseline, in the
same run, the GitOps target's apply called directly, one after another, on the
same rendered manifests (the installs' right after the installs, the upgrades'
right after the upgrades): the engine's overhead as a ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.environment import django_environment  # noqa: E402
from bench.market_sync import line  # noqa: E402

MANIFEST = """\
schema: 1
name: {name}
version: "{version}"
title: Bench Web
summary: A small web service with a config map, published by the benchmark.
category: testing
license: Apache-2.0
"""
TEMPLATES = {
    "deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: "{{ instance.name }}", labels: {app: "{{ app.name }}"}}
spec:
  replicas: {{ values.replicas }}
  template:
    spec:
      containers:
        - {name: web, image: "registry.example.org/web:{{ app.version }}"}
""",
    "service.yaml": """\
apiVersion: v1
kind: Service
metadata: {name: "{{ instance.name }}"}
spec: {ports: [{port: 80, targetPort: 8080}]}
""",
    "configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata: {name: "{{ instance.name }}-config"}
data:
{% for i in range(40) %}  key{{ i }}: "value {{ i }} of {{ instance.name }} at {{ app.version }}"
{% endfor %}""",
}


def publish_app(
    workdir: Path, *, name: str = "bench-web", templates: dict[str, str] = TEMPLATES
) -> Any:
    from market.package import build_package
    from market.services.markets import market_add, market_init
    from market.services.publish import package_publish
    from market.services.sync import market_sync
    from portal.actors import Actor

    folder = workdir / "market"
    market_init(location=str(folder), name="bench")
    market = market_add(actor=Actor.system(), name="bench", location=str(folder), writable=True)
    for version in ("1.0.0", "1.1.0"):
        source = workdir / "src" / name / version
        (source / "templates").mkdir(parents=True)
        (source / "manifest.yaml").write_text(MANIFEST.format(name=name, version=version))
        (source / "values.yaml").write_text("replicas: 2\n")
        for file_name, text in templates.items():
            (source / "templates" / file_name).write_text(text)
        built = build_package(source, out_dir=workdir / "built")
        package_publish(actor=Actor.system(), market=market, data=built.path.read_bytes())
    market_sync(market=market)
    return market


def bench_operator(**namespace_fields: Any) -> tuple[Any, Any]:
    """An operator of team "bench" and a namespace it owns (name "bench" unless given):
    the (actor, namespace) every workflow benchmark installs with."""
    from django.contrib.auth import get_user_model

    from deployments.models import Namespace
    from portal.actors import Actor
    from portal.models import Membership, Role, Team

    user = get_user_model().objects.create_user("bench")
    team = Team.objects.create(name="bench")
    Membership.objects.create(team=team, user=user, role=Role.OPERATOR)
    namespace = Namespace.objects.create(team=team, **{"name": "bench", **namespace_fields})
    return Actor(user=user), namespace


def start_workers(count: int, queue: str, data_dir: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "WORKFLOW_QUEUE": queue, "PORTAL_DATA_DIR": str(data_dir)}
    workers = []
    for number in range(count):
        log = open(data_dir / f"worker-{number}.log", "wb")  # noqa: SIM115 - closed with the process
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "-Q",
                    queue,
                    "-c",
                    "1",
                    "-l",
                    "warning",
                    "--without-gossip",
                    "--without-mingle",
                    "-n",
                    f"bench{number}-{queue}@%h",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    return workers


def wait_all(ids: list[str], timeout: float = 1800) -> None:
    from deployments.models import ACTIVE_OPERATION_STATES, Operation

    deadline = time.monotonic() + timeout
    while Operation.objects.filter(pk__in=ids, state__in=ACTIVE_OPERATION_STATES).exists():
        if time.monotonic() > deadline:
            raise SystemExit("operations did not finish in time")
        time.sleep(0.2)


def baseline_applies(target: Any, *, revision_number: int) -> list[float]:
    """Seconds of each direct apply of the revisions numbered ``revision_number``
    (1: the installs, 2: the upgrades), in the order the workers made them."""
    from deployments.models import Revision
    from deployments.targets import Change
    from portal.crypto import decrypt_json

    seconds = []
    for revision in (
        Revision.objects.select_related("instance")
        .filter(number=revision_number)
        .order_by("created_at")
    ):
        change = Change(
            operation_id=str(uuid.uuid4()),
            kind="install" if revision.number == 1 else "upgrade",
            namespace="bench",
            instance=revision.instance.name,
            app="bench-web",
            version=revision.app_version,
            requested_by="bench",
        )
        manifests = decrypt_json(revision.manifests_encrypted)
        begin = time.perf_counter()
        target.apply(change, manifests)
        seconds.append(time.perf_counter() - begin)
    return seconds


def latencies(ids: list[str]) -> tuple[list[float], float, int]:
    from deployments.models import Operation

    rows = list(Operation.objects.filter(pk__in=ids))
    failed = sum(1 for r in rows if r.state != "succeeded")
    spans = [(r.finished_at - r.created_at).total_seconds() for r in rows if r.finished_at]
    first = min(r.created_at for r in rows)
    last = max(r.finished_at for r in rows if r.finished_at)
    return spans, (last - first).total_seconds(), failed


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("REDIS_URL"):
        print('REDIS_URL is not set: run  eval "$(scripts/services.sh env)"  first')
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-workflow-") as tmp:
        workdir = Path(tmp)
        # The workers inherit this environment: the same fresh database.
        with django_environment(
            workdir, unset=("ELASTICSEARCH_URL", "CELERY_TASK_ALWAYS_EAGER")
        ) as database:
            return run(args, workdir, database)


def run(args: argparse.Namespace, workdir: Path, database: str) -> int:
    from django.conf import settings

    from deployments.models import Instance
    from deployments.services.instances import instance_install, instance_upgrade
    from deployments.targets import GitOpsTarget

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    settings.WORKFLOW_QUEUE = queue

    market = publish_app(workdir)
    actor, namespace = bench_operator()
    data_dir = Path(settings.DATA_DIR)
    print(
        f"workflow bench: {args.instances} installs + {args.instances} upgrades, "
        f"{args.workers} worker processes, {database}, broker {settings.REDIS_URL}"
    )
    # Baseline: the target's apply alone, one after another, on the same manifests.
    baseline = GitOpsTarget(workdir / "baseline-gitops")
    workers = start_workers(args.workers, queue, data_dir)
    try:
        time.sleep(4)  # let the workers connect before the clock starts
        started = time.perf_counter()
        install_ids = [
            str(
                instance_install(
                    actor=actor,
                    namespace=namespace,
                    name=f"web-{i:04d}",
                    market=market,
                    app="bench-web",
                    version="1.0.0",
                ).operation.pk
            )
            for i in range(args.instances)
        ]
        request_time = time.perf_counter() - started
        wait_all(install_ids)
        # The baseline of each phase right after it: the machine's speed may drift
        # over a run, and a ratio of two figures taken far apart would move with it.
        install_applies = baseline_applies(baseline, revision_number=1)
        upgrade_ids = []
        upgrade_started = time.perf_counter()
        for instance in Instance.objects.filter(namespace=namespace).select_related(
            "current_revision", "namespace__team", "market"
        ):
            upgrade_ids.append(
                str(
                    instance_upgrade(
                        actor=actor, instance=instance, version="1.1.0", values={"replicas": 3}
                    ).operation.pk
                )
            )
        upgrade_request_time = time.perf_counter() - upgrade_started
        wait_all(upgrade_ids)
        upgrade_applies = baseline_applies(baseline, revision_number=2)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)

    install_spans, install_wall, install_failed = latencies(install_ids)
    upgrade_spans, upgrade_wall, upgrade_failed = latencies(upgrade_ids)

    applies = install_applies + upgrade_applies
    apply_mean = statistics.mean(applies)

    ops = len(install_ids) + len(upgrade_ids)
    engine_wall = install_wall + upgrade_wall
    print("figures (ratio = engine time per operation / direct apply time per operation)")
    # Requests are made one after another while the workers run: when a request
    # takes longer than an operation, the requests, not the workers, set the pace.
    line(
        "requests: instance_install in this process",
        f"{request_time / len(install_ids) * 1000:.1f}ms per request",
        f"{len(install_ids) / request_time:.1f}/s",
    )
    line(
        "requests: instance_upgrade in this process",
        f"{upgrade_request_time / len(upgrade_ids) * 1000:.1f}ms per request",
        f"{len(upgrade_ids) / upgrade_request_time:.1f}/s",
    )
    line(
        "baseline: GitOpsTarget.apply called directly",
        f"{apply_mean * 1000:.1f}ms per apply ({len(applies)} applies), {1 / apply_mean:.1f}/s",
        "ratio 1.00",
    )
    line(
        "installs through the workers",
        f"{len(install_ids) / install_wall:.1f} ops/s, p50 {pct(install_spans, 50):.2f}s "
        f"p95 {pct(install_spans, 95):.2f}s, {install_failed} failed",
    )
    line(
        "upgrades through the workers",
        f"{len(upgrade_ids) / upgrade_wall:.1f} ops/s, p50 {pct(upgrade_spans, 50):.2f}s "
        f"p95 {pct(upgrade_spans, 95):.2f}s, {upgrade_failed} failed",
    )
    per_op = engine_wall / ops
    line(
        "engine overhead",
        f"{per_op * 1000:.1f}ms per operation (wall / operations)",
        f"ratio {per_op / apply_mean:.2f}",
    )
    for phase, wall, phase_applies in (
        ("installs", install_wall, install_applies),
        ("upgrades", upgrade_wall, upgrade_applies),
    ):
        phase_mean = statistics.mean(phase_applies)
        line(
            f"  {phase}: per operation / apply after it",
            f"{wall / len(phase_applies) * 1000:.1f}ms / {phase_mean * 1000:.1f}ms",
            f"ratio {wall / len(phase_applies) / phase_mean:.2f}",
        )
    return 1 if install_failed or upgrade_failed else 0


if __name__ == "__main__":
    sys.exit(main())
