"""Benchmark: memory and time of validating hostile packages, against an ordinary one.

    .venv/bin/python bench/hostile_render.py [--renders 200]

Validates (what publishing does before it writes: read_package, then the trial render
under the render limits) an ordinary package, then each package of issue 11 item 1,
in this one process. Prints, per package: the outcome, the wall time as a ratio to the
ordinary package, and the peak RSS of this process (ru_maxrss) above its peak after
the ordinary one: it must stay within 100 MB. The render children's peak is printed
beside it. Then the cost of the child process per render: render_templates (forked
child) against the same templates rendered in-process, --renders times each.

Sets Django up on its own (bench/environment.py: a temporary PORTAL_DATA_DIR; SQLite
there, or a fresh database beside DATABASE_URL's, dropped afterwards).
"""

from __future__ import annotations

import argparse
import io
import resource
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.environment import django_environment  # noqa: E402

NAME = "bench-app"
ORDINARY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ instance.name }}
spec:
  replicas: {{ values.replicas }}
  template:
    spec:
      containers:
{% for i in range(values.containers) %}
        - name: c{{ i }}
          image: "registry.example.org/app:{{ app.version }}"
          env: {{ values.env | tojson }}
{% endfor %}
"""
HOSTILE = {
    '"ab" * (10**8)': '{{ "ab" * (10**8) }}',
    "7 ** (4 * 10**6)": "{{ 7 ** (4 * 10**6) }}",
    "10 ** (10**6)": "{{ 10 ** (10**6) }}",
    "three nested range(100000)": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    ),
    "~ doubling 40 times": (
        '{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
        "{% endfor %}{{ ns.s | length }}"
    ),
    '"x" | center(10**9)': '{{ "x" | center(10**9) }}',
    "100 MB of output": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
}
MB = 1024 * 1024


def archive(template: str) -> bytes:
    files = {
        "manifest.yaml": (
            f'schema: 1\nname: {NAME}\nversion: "1.0.0"\ntitle: Bench\n'
            "summary: bench\ncategory: testing\nlicense: MIT\n"
        ),
        "values.yaml": "replicas: 2\ncontainers: 3\nenv: [{name: A, value: b}]\n",
        "templates/deploy.yaml": template,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{NAME}/{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def run(renders: int) -> None:
    from market.package import read_package
    from market.package.errors import PackageRefused
    from market.package.render import (
        InstanceContext,
        _context,
        _render_all,
        check_render_limits,
        merged_values,
        render_templates,
    )
    from market.package.render_limits import RenderLimits

    def validate(data: bytes) -> str:
        try:
            check_render_limits(read_package(data, filename=f"{NAME}-1.0.0.tgz"))
        except PackageRefused as exc:
            return f"refused {exc.code}: {exc.reason[:60]}"
        return "accepted"

    limits = RenderLimits.from_settings()
    print(f"limits: {limits.timeout_seconds:g} s, {limits.max_bytes // MB} MiB output,")
    print(f"        a render child may grow {limits.memory_bytes // MB} MiB\n")
    started = time.perf_counter()
    outcome = validate(archive(ORDINARY))
    baseline_seconds = time.perf_counter() - started
    baseline_rss = peak_rss_mb()
    print(f"{'package':30} {'outcome':70} {'time':>9} {'x ord.':>8} {'RSS +MB':>8} {'child MB':>9}")
    print(
        f"{'ordinary':30} {outcome:70} {baseline_seconds:8.3f}s {1:8.1f} {0:8.1f} "
        f"{peak_rss_mb(resource.RUSAGE_CHILDREN):9.0f}"
    )
    worst = 0.0
    for label, template in HOSTILE.items():
        started = time.perf_counter()
        outcome = validate(archive(template))
        seconds = time.perf_counter() - started
        grown = peak_rss_mb() - baseline_rss
        worst = max(worst, grown)
        print(
            f"{label:30} {outcome:70} {seconds:8.3f}s {seconds / baseline_seconds:8.1f} "
            f"{grown:8.1f} {peak_rss_mb(resource.RUSAGE_CHILDREN):9.0f}"
        )
    verdict = "within" if worst <= 100 else "OVER"
    print(f"\npeak RSS of this process grew {worst:.1f} MB over the ordinary publish:", end=" ")
    print(f"{verdict} 100 MB")

    package = read_package(archive(ORDINARY))
    instance = InstanceContext(name="bench", namespace="bench", revision=1)
    context = _context(package, merged_values(package, None), instance, None)
    started = time.perf_counter()
    for _ in range(renders):
        _render_all(package, context, limits, secrets=[])
    in_process = (time.perf_counter() - started) / renders
    started = time.perf_counter()
    for _ in range(renders):
        render_templates(package, values=None, instance=instance)
    forked = (time.perf_counter() - started) / renders
    print(
        f"\nper render of the ordinary package ({renders} each): in-process "
        f"{in_process * 1000:.2f} ms, in a limited child {forked * 1000:.2f} ms "
        f"(x{forked / in_process:.1f}, +{(forked - in_process) * 1000:.2f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-hostile-") as workdir,
        django_environment(
            Path(workdir), unset=("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")
        ) as described,
    ):
        print(f"database: {described}")
        run(args.renders)


if __name__ == "__main__":
    main()
