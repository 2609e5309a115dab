"""Benchmark: the GitOps target alone, without a remote, with one, and on two hosts.

    .venv/bin/python bench/gitops_hosts.py [--operations 100]

Prints, per case, the time per operation (an apply followed by the ``holds`` that the
verify step calls) and the git processes each one starts:

- local: no remote (what bench/workflow.py measures as its baseline);
- 1 host: ``GITOPS_REMOTE_URL`` on a bare repository on this disk (fetch, commit,
  push, and a fetch for ``holds``);
- 2 hosts: two processes with their own folders applying at once into one bare
  remote (pushes refused while the other host's commit lands are redone): the
  operations per second of both together and how many pushes were redone.

A remote on the same disk is the cheapest there is: a real network adds its round
trips to each fetch and push. No Django and no database.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deployments.targets.base import Change  # noqa: E402
from deployments.targets.gitops import GitOpsTarget  # noqa: E402
from deployments.targets.gitops_remote import PUSH_RETRY  # noqa: E402

MANIFESTS = {f"m{n}.yaml": f"kind: ConfigMap\nname: x{n}\n" * 20 for n in range(6)}


def operations(host: int, count: int) -> list[tuple[Change, dict[str, str]]]:
    changes = []
    for index in range(count):
        instance = f"h{host}-i{index % 10}"
        manifests = {**MANIFESTS, "version.yaml": f"v: {index}\n"}
        kind = "install" if index < 10 else "upgrade"
        change = Change(str(uuid.uuid4()), kind, "bench", instance, "app", f"1.{index}.0", "b")
        changes.append((change, manifests))
    return changes


def run_host(folder: str, remote: str | None, host: int, count: int, results: Any) -> None:
    """Apply ``count`` operations (each then ``holds``); put (seconds, git calls,
    redone pushes) on ``results``."""
    calls: Counter[str] = Counter()
    real_run = subprocess.run

    def counting(args: Any, *rest: Any, **options: Any) -> Any:
        if args and args[0] == "git":
            calls[args[1]] += 1
        return real_run(args, *rest, **options)

    redone: list[float] = []

    def counted_sleep(seconds: float) -> None:
        redone.append(seconds)
        time.sleep(seconds)

    # The target's own retry policy, its waits counted.
    retry = dataclasses.replace(PUSH_RETRY, sleep=counted_sleep)
    target = GitOpsTarget(Path(folder), remote_url=remote, push_retry=retry)
    work = operations(host, count)
    target.apply(*operations(host + 100, 1)[0])  # the clone exists, as on a running host
    subprocess.run = counting
    try:
        start = time.perf_counter()
        for change, manifests in work:
            target.apply(change, manifests)
            assert target.holds(change.namespace, change.instance, manifests)
        elapsed = time.perf_counter() - start
    finally:
        subprocess.run = real_run
    results.put((elapsed, sum(calls.values()), len(redone)))


def case(name: str, hosts: int, remote: bool, count: int, workdir: Path) -> None:
    remote_dir = workdir / f"{name}.git"
    if remote:
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote_dir)], check=True)
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    processes = [
        context.Process(
            target=run_host,
            args=(
                str(workdir / name / f"host-{host}" / "gitops"),
                str(remote_dir) if remote else None,
                host,
                count,
                results,
            ),
        )
        for host in range(hosts)
    ]
    start = time.perf_counter()
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=1800) for _ in processes]
    wall = time.perf_counter() - start
    for process in processes:
        process.join()
    total = hosts * count
    per_operation = sum(elapsed for elapsed, _, _ in outcomes) / total * 1000
    calls = sum(git for _, git, _ in outcomes) / total
    redone = sum(again for _, _, again in outcomes)
    busy = max(elapsed for elapsed, _, _ in outcomes)
    print(
        f"{name:8} {per_operation:6.1f} ms per operation, {calls:4.1f} git processes, "
        f"{total / busy:5.1f} ops/s together, {redone} pushes redone "
        f"({total} operations, {wall:.1f}s with start-up)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=100, help="per host")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gitops-hosts-") as tmp:
        workdir = Path(tmp)
        case("local", 1, False, args.operations, workdir)
        case("1 host", 1, True, args.operations, workdir)
        case("2 hosts", 2, True, args.operations, workdir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
