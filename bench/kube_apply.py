"""Benchmark: installs into a Kubernetes cluster through real Celery workers, and the
live-state refresh of those instances.

    .venv/bin/python bench/kube_apply.py [--instances 200] [--workers 2]

Needs REDIS_URL and the API server of scripts/services.sh (KUBE_API_URL, KUBE_CA_FILE,
KUBE_TOKEN: `eval "$(scripts/services.sh env)"`). Sets Django up on a fresh database
(bench/environment.py), registers the cluster, publishes an app of three objects (a
Deployment, a Service, a ConfigMap), and:

1. requests INSTANCES installs into a namespace bound to the cluster, run by WORKERS
   worker processes, and waits for all of them (each: resolve, fetch, validate,
   render, apply with the instance record, prune, verify, record);
2. baseline, in the same run: the same rendered objects applied by the `kubernetes`
   client alone in this process (DynamicClient.server_side_apply, one object after
   another) into a namespace of its own: the ratio is the portal's time per install
   over the client's time per instance;
3. the live-state refresh of the whole namespace (one call, what the beat does), with
   the number of API requests it made, against refreshing each instance on its own.
"""

from __future__ import annotations

import argparse
import os
import secrets
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
from bench.workflow import (  # noqa: E402
    bench_operator,
    latencies,
    pct,
    publish_app,
    start_workers,
    wait_all,
)

TEMPLATES = {
    "deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: "{{ instance.name }}"}
spec:
  replicas: {{ values.replicas }}
  selector: {matchLabels: {app: "{{ instance.name }}"}}
  template:
    metadata: {labels: {app: "{{ instance.name }}"}}
    spec:
      containers:
        - {name: web, image: "registry.example.org/web:{{ app.version }}"}
""",
    "service.yaml": """\
apiVersion: v1
kind: Service
metadata: {name: "{{ instance.name }}"}
spec: {selector: {app: "{{ instance.name }}"}, ports: [{port: 80, targetPort: 8080}]}
""",
    "configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata: {name: "{{ instance.name }}-config"}
data:
{% for i in range(20) %}  key{{ i }}: "value {{ i }} of {{ instance.name }}"
{% endfor %}""",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    missing = [
        n
        for n in ("REDIS_URL", "KUBE_API_URL", "KUBE_CA_FILE", "KUBE_TOKEN")
        if not os.environ.get(n)
    ]
    if missing:
        print(f'{", ".join(missing)} not set: run  eval "$(scripts/services.sh env)"  first')
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-kube-") as tmp:
        workdir = Path(tmp)
        with django_environment(
            workdir, unset=("ELASTICSEARCH_URL", "CELERY_TASK_ALWAYS_EAGER")
        ) as database:
            return run(args, workdir, database)


def run(args: argparse.Namespace, workdir: Path, database: str) -> int:
    from django.conf import settings

    from deployments.models import Instance, Revision
    from deployments.services.clusters import cluster_add
    from deployments.services.instances import instance_install
    from deployments.services.live import namespace_live_refresh
    from portal.actors import Actor

    queue = f"bench-{uuid.uuid4().hex[:8]}"
    settings.WORKFLOW_QUEUE = queue
    cluster = cluster_add(
        actor=Actor.system(),
        name="bench",
        server=os.environ["KUBE_API_URL"],
        token=os.environ["KUBE_TOKEN"],
        ca_cert=Path(os.environ["KUBE_CA_FILE"]).read_text(),
        allow_private_network=True,
    )
    market = publish_app(workdir, name="bench-kube", templates=TEMPLATES)
    # A fresh Kubernetes namespace per run: deleted ones stay Terminating on a
    # server without controllers.
    suffix = secrets.token_hex(3)
    actor, namespace = bench_operator(name=f"bench-{suffix}", target="kubernetes", cluster=cluster)
    print(
        f"kubernetes bench: {args.instances} installs of 3 objects, {args.workers} worker"
        f" processes, {database}, cluster {cluster.server} ({cluster.version})"
    )
    workers = start_workers(args.workers, queue, Path(settings.DATA_DIR))
    try:
        time.sleep(4)  # let the workers connect before the clock starts
        install_ids = [
            str(
                instance_install(
                    actor=actor,
                    namespace=namespace,
                    name=f"web-{i:04d}",
                    market=market,
                    app="bench-kube",
                    version="1.0.0",
                ).operation.pk
            )
            for i in range(args.instances)
        ]
        wait_all(install_ids)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=60)
    spans, wall, failed = latencies(install_ids)

    baseline, objects = client_alone(
        [Revision.objects.get(pk=pk) for pk in Revision.objects.values_list("pk", flat=True)],
        namespace=f"bench-base-{suffix}",
    )

    started = time.perf_counter()
    whole = namespace_live_refresh(namespace_id=namespace.pk)
    whole_seconds = time.perf_counter() - started
    sample = list(Instance.objects.filter(namespace=namespace).values_list("pk", flat=True)[:20])
    started = time.perf_counter()
    one_by_one = [
        namespace_live_refresh(namespace_id=namespace.pk, instance_ids=[pk]) for pk in sample
    ]
    each_seconds = (time.perf_counter() - started) / max(1, len(sample))
    each_requests = sum(result.requests for result in one_by_one) / max(1, len(sample))
    synced = Instance.objects.filter(namespace=namespace, live_sync="synced").count()

    ops = len(install_ids)
    per_op = wall / ops
    print("figures (ratio = time per install through the portal / time per instance, client alone)")
    line(
        "baseline: kubernetes client alone (SSA)",
        f"{baseline / ops * 1000:.1f}ms per instance ({objects} objects), {ops / baseline:.1f}/s",
        "ratio 1.00",
    )
    line(
        "installs through the workers",
        f"{ops / wall:.1f} ops/s, p50 {pct(spans, 50):.2f}s p95 {pct(spans, 95):.2f}s,"
        f" {failed} failed",
        f"ratio {per_op / (baseline / ops):.2f}",
    )
    line(
        "live refresh of the namespace (one call)",
        f"{whole.instances} instances in {whole_seconds * 1000:.0f}ms,"
        f" {whole.requests} API requests, {synced} synced",
    )
    line(
        "live refresh one instance at a time",
        f"{each_seconds * 1000:.1f}ms and {each_requests:.1f} API requests per instance"
        f" ({each_seconds * whole.instances:.1f}s,"
        f" {each_requests * whole.instances:.0f} requests for all)",
    )
    return 1 if failed or whole.error else 0


def client_alone(revisions: list[Any], *, namespace: str) -> tuple[float, int]:
    """Apply each revision's objects with the kubernetes client's DynamicClient, as a
    script would: no record, no labels, no verify. Seconds taken, objects applied."""
    import yaml
    from kubernetes import client
    from kubernetes.dynamic import DynamicClient

    from portal.crypto import decrypt_json

    configuration = client.Configuration()
    configuration.host = os.environ["KUBE_API_URL"]
    configuration.ssl_ca_cert = os.environ["KUBE_CA_FILE"]
    configuration.api_key = {"authorization": "Bearer " + os.environ["KUBE_TOKEN"]}
    configuration.api_key_prefix = {}
    api = client.ApiClient(configuration)
    api.set_default_header("Authorization", "Bearer " + os.environ["KUBE_TOKEN"])
    dynamic = DynamicClient(api)
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    documents = [
        document
        for revision in revisions
        for text in decrypt_json(revision.manifests_encrypted).values()
        for document in yaml.safe_load_all(text)
        if document
    ]
    resources = {
        (doc["apiVersion"], doc["kind"]): dynamic.resources.get(
            api_version=doc["apiVersion"], kind=doc["kind"]
        )
        for doc in documents
    }
    started = time.perf_counter()
    for document in documents:
        resources[(document["apiVersion"], document["kind"])].server_side_apply(
            body=document, namespace=namespace, field_manager="bench", force_conflicts=True
        )
    seconds = time.perf_counter() - started
    api.close()
    return seconds, len(documents)


if __name__ == "__main__":
    sys.exit(main())
