"""Benchmark: incremental market sync over HTTP, and concurrent publish throughput.

    .venv/bin/python bench/market_sync.py [--apps 2000] [--versions 8] [--repeat 3]

Sets Django up on its own (a temporary PORTAL_DATA_DIR; SQLite there, or a fresh
database beside DATABASE_URL's when that is set, dropped afterwards), writes a
format-1 market of APPS x VERSIONS to disk, serves it from a loopback HTTP server with
ETags, subscribes to it and syncs. Every figure is printed beside its baseline, run in
this same process, as a ratio (see bench/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import multiprocessing
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.environment import django_environment  # noqa: E402
from guards.paths import UnsafePath, safe_relative_path  # noqa: E402

CATEGORIES = ["observability", "databases", "networking", "security", "storage", "runbooks"]
MANIFEST = """\
schema: 1
name: {name}
version: "{version}"
title: {title}
summary: A tiny app published by the benchmark.
category: testing
keywords: [bench, {name}]
license: Apache-2.0
"""


# --- a market on disk --------------------------------------------------------------


def fake_manifest(name: str, version: str, number: int) -> dict[str, Any]:
    return {
        "schema": 1,
        "name": name,
        "version": version,
        "title": name.replace("-", " ").title(),
        "summary": f"Benchmark app number {number}, version {version}.",
        "description": "Collects, exports and alerts. " * 4,
        "category": CATEGORIES[number % len(CATEGORIES)],
        "keywords": ["bench", CATEGORIES[number % len(CATEGORIES)], f"k{number % 50}"],
        "license": "Apache-2.0",
        "homepage": f"https://example.org/apps/{name}",
        "maintainers": [{"name": "Bench Team", "email": "bench@example.org"}],
        "dependencies": [{"name": "redis-ops", "version": ">=1.2.0 <2.0.0"}] if number % 3 else [],
        "components": [{"name": "main", "templates": ["templates/*.yaml"]}],
    }


def fake_archive(name: str, version: str) -> bytes:
    # Sync reads market.json and index.json only; archives just have to exist and
    # match their digest and size.
    return f"not a real package: {name} {version}\n".encode() * 8


def write_market(root: Path, apps: int, versions: int) -> dict[str, list[dict[str, Any]]]:
    """Write market.json, every index.json and archive; return the Helm-style
    entries ({name: [chart version, ...]}) of the same catalogue for the baseline."""
    from market.index import empty_market, index_add_version, market_entry
    from market.storage.cas import dump_json

    market = empty_market("bench", "Benchmark market")
    helm: dict[str, list[dict[str, Any]]] = {}
    published = "2025-01-01T00:00:00Z"
    for number in range(apps):
        name = f"app-{number:04d}"
        folder = root / "apps" / name
        folder.mkdir(parents=True)
        index: dict[str, Any] | None = None
        for minor in range(versions):
            version = f"1.{minor}.0"
            archive = fake_archive(name, version)
            (folder / f"{name}-{version}.tgz").write_bytes(archive)
            digest = "sha256:" + hashlib.sha256(archive).hexdigest()
            manifest = fake_manifest(name, version, number)
            index = index_add_version(
                index,
                name=name,
                version=version,
                digest=digest,
                size=len(archive),
                publisher="bench",
                manifest=manifest,
                published=published,
            )
            helm.setdefault(name, []).append(
                {
                    "apiVersion": "v2",
                    "name": name,
                    "version": version,
                    "appVersion": version,
                    "description": manifest["summary"],
                    "home": manifest["homepage"],
                    "keywords": manifest["keywords"],
                    "maintainers": manifest["maintainers"],
                    "annotations": {"category": manifest["category"], "title": manifest["title"]},
                    "dependencies": manifest["dependencies"],
                    "created": published,
                    "digest": digest.removeprefix("sha256:"),
                    "urls": [f"apps/{name}/{name}-{version}.tgz"],
                }
            )
        assert index is not None
        index_bytes = dump_json(index)
        (folder / "index.json").write_bytes(index_bytes)
        market["apps"][name] = market_entry(index, index_bytes)
    market["serial"] = apps
    (root / "market.json").write_bytes(dump_json(market))
    return helm


def publish_one_fake_version(root: Path, name: str, version: str) -> None:
    """What a publisher does, minus package validation: archive create-only, then
    index.json and market.json by compare-and-swap."""
    import json

    from market.index import (
        archive_key,
        index_add_version,
        index_key,
        market_apply_index,
        market_entry,
    )
    from market.storage.cas import update_json
    from market.storage.local import LocalStorage

    storage = LocalStorage(root, writable=True)
    archive = fake_archive(name, version)
    digest = "sha256:" + hashlib.sha256(archive).hexdigest()
    storage.put_new(archive_key(name, version), archive)
    manifest = fake_manifest(name, version, 0)
    update_json(
        storage,
        index_key(name),
        lambda doc: index_add_version(
            doc,
            name=name,
            version=version,
            digest=digest,
            size=len(archive),
            publisher="bench",
            manifest=manifest,
        ),
    )

    def apply(doc: dict[str, Any] | None) -> dict[str, Any]:
        blob = storage.get(index_key(name))
        entry = market_entry(json.loads(blob.data), blob.data)
        return market_apply_index(doc, name=name, entry=entry, market_name="bench")

    update_json(storage, "market.json", apply)


def sign_market(root: Path) -> bytes:
    """Make the market at `root` a signed one, through the services a publisher uses
    (a team key, root.json version 1, market.json signed by the one writer of it);
    return root.json, which subscribers pin."""
    import json

    from market.services.signing import market_json_create, market_sign_init
    from market.storage.local import LocalStorage
    from portal.actors import Actor
    from portal.models import Team

    storage = LocalStorage(root, writable=True)
    team, _ = Team.objects.get_or_create(name="bench-signers")
    market_sign_init(actor=Actor.system(), storage=storage, team=team)
    doc = json.loads((root / "market.json").read_bytes())
    (root / "market.json").unlink()
    market_json_create(storage=storage, doc=doc)
    return (root / "root.json").read_bytes()


# --- serving it ------------------------------------------------------------------------


class _MarketHandler(http.server.BaseHTTPRequestHandler):
    """Serves the folder `server.root` with strong ETags and If-None-Match (304),
    HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    # Keep-alive with headers and body in separate small writes meets Nagle and the
    # client's delayed ACK: 40 ms a request. Send each response in one piece, now.
    disable_nagle_algorithm = True
    wbufsize = 256 * 1024
    server: _MarketServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        relative = self.path.split("?", 1)[0].lstrip("/")
        try:
            safe_relative_path(relative)
        except UnsafePath:
            self._send(404, b"not found", {})
            return
        path = self.server.root / relative
        if not path.is_file():
            self._send(404, b"not found", {})
            return
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        if self.headers.get("If-None-Match") == etag:
            self._send(304, b"", {"ETag": etag})
            return
        self._send(200, body, {"ETag": etag, "Content-Type": "application/json"})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for header, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(header, value)
        self.end_headers()
        self.wfile.write(body)


class _MarketServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    root: Path


def serve_market(root: str, ready: Any) -> None:
    """Child-process body: serve `root` on a free loopback port, put its URL on `ready`.
    In its own process, the server does not share the syncing process's GIL."""
    server = _MarketServer(("127.0.0.1", 0), _MarketHandler)
    server.root = Path(root)
    ready.put(f"http://127.0.0.1:{server.server_address[1]}/")
    server.serve_forever()


@contextmanager
def market_server(root: Path) -> Iterator[str]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=serve_market, args=(str(root), ready), daemon=True)
    process.start()
    try:
        yield ready.get(timeout=60)
    finally:
        process.terminate()
        process.join(timeout=10)


# --- publish throughput ------------------------------------------------------------------


def build_archives(workdir: Path, names: list[str], per_name: int) -> list[list[tuple[str, bytes]]]:
    from market.package import build_package

    batches = []
    for name in names:
        batch = []
        for minor in range(per_name):
            version = f"1.{minor}.0"
            source = workdir / "src" / uuid.uuid4().hex / name
            (source / "templates").mkdir(parents=True)
            (source / "manifest.yaml").write_text(
                MANIFEST.format(name=name, version=version, title=name.title())
            )
            (source / "README.md").write_text(f"# {name} {version}\n")
            (source / "templates" / "configmap.yaml").write_text(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ instance.name }}\n"
            )
            built = build_package(source, out_dir=source.parent / "out")
            batch.append((built.path.name, built.path.read_bytes()))
        batches.append(batch)
    return batches


def publisher_process(
    root: str, archives: list[tuple[str, bytes]], barrier: Any, results: Any
) -> None:
    """Set Django up, wait for every publisher, publish; report (published, CAS
    conflicts, error)."""
    import django

    django.setup()
    from market.services.publish import publish_to_storage
    from market.storage.base import PreconditionFailed
    from market.storage.local import LocalStorage

    class CountingStorage(LocalStorage):
        conflicts = 0

        def _put_if_match(self, key: str, data: bytes, etag: str | None, content_type: str) -> str:
            try:
                return super()._put_if_match(key, data, etag, content_type)
            except PreconditionFailed:
                self.conflicts += 1
                raise

    storage = CountingStorage(root, writable=True)
    barrier.wait(timeout=300)
    published, error = 0, ""
    try:
        for filename, data in archives:
            publish_to_storage(
                storage=storage, market_name="bench", data=data, filename=filename, publisher="b"
            )
            published += 1
    except Exception as exc:  # reported by the parent, which would otherwise wait
        error = f"{type(exc).__name__}: {exc}"
    results.put((published, storage.conflicts, error))


def publish_throughput(workdir: Path, processes: int, per_process: int) -> dict[str, float]:
    """Versions per second: `processes` OS processes publishing `per_process` versions
    each (one app per process) into one local market, against one process publishing
    the same archives in turn."""
    from market.services.markets import market_init
    from market.services.publish import publish_to_storage
    from market.storage.local import LocalStorage

    batches = build_archives(workdir, [f"pub-{n}" for n in range(processes)], per_process)
    total = processes * per_process

    sequential_root = workdir / "publish-sequential"
    market_init(location=str(sequential_root), name="bench")
    storage = LocalStorage(sequential_root, writable=True)
    started = time.perf_counter()
    for batch in batches:
        for filename, data in batch:
            publish_to_storage(
                storage=storage, market_name="bench", data=data, filename=filename, publisher="b"
            )
    sequential = time.perf_counter() - started

    concurrent_root = workdir / "publish-concurrent"
    market_init(location=str(concurrent_root), name="bench")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    results = context.Queue()
    workers = [
        context.Process(
            target=publisher_process, args=(str(concurrent_root), batch, barrier, results)
        )
        for batch in batches
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=300)  # every child has Django set up: spawn cost is not counted
    started = time.perf_counter()
    reports = [results.get(timeout=600) for _ in workers]
    concurrent = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=60)
    errors = [error for _, _, error in reports if error]
    published = sum(count for count, _, _ in reports)
    if errors or published != total:
        raise RuntimeError(f"published {published} of {total}: {'; '.join(errors)}")
    return {
        "concurrent_rate": total / concurrent,
        "sequential_rate": total / sequential,
        "conflicts": sum(conflicts for _, conflicts, _ in reports),
        "total": total,
    }


# --- the run ----------------------------------------------------------------------------


def line(label: str, value: str, target: str = "") -> None:
    print(f"  {label:<46} {value:<26} {target}")


def verdict(ok: bool) -> str:
    return "[met]" if ok else "[MISSED]"


def runs(wall: list[float], cpu: list[float]) -> str:
    return ", ".join(f"{w:.2f}/{c:.2f}s" for w, c in zip(wall, cpu, strict=True))


def ru_maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--apps", type=int, default=2000)
    parser.add_argument("--versions", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="cold syncs and YAML loads")
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--per-publisher", type=int, default=25)
    parser.add_argument("--no-publish", action="store_true", help="skip the publish figures")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ops-market-bench-"))
    try:
        # No broker, search or eager tasks: the sync job market_add queues must not run
        # behind our back, and nothing but the sync is measured.
        unset = ("REDIS_URL", "ELASTICSEARCH_URL", "CELERY_TASK_ALWAYS_EAGER")
        with django_environment(workdir, unset=unset) as database:
            run(args, workdir, database)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def run(args: argparse.Namespace, workdir: Path, database: str) -> None:
    import json

    import yaml

    from market.services.markets import market_add
    from market.services.sync import market_sync
    from portal.actors import Actor

    print(f"market sync: {args.apps} apps x {args.versions} versions, {database}")
    root = workdir / "market"
    started = time.perf_counter()
    helm_entries = write_market(root, args.apps, args.versions)
    document = {"apiVersion": "v1", "entries": helm_entries, "generated": "2025-01-01T00:00:00Z"}
    index_yaml = yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False).encode()
    del document, helm_entries
    print(f"  (market and index.yaml written in {time.perf_counter() - started:.1f}s)")
    rss_before_sync = ru_maxrss_mib()
    with market_server(root) as url:
        cold_times, cold_cpu = [], []
        for attempt in range(args.repeat):
            market = market_add(
                actor=Actor.system(),
                name=f"bench-{attempt}",
                location=url,
                allow_private_network=True,
            )
            started, cpu = time.perf_counter(), time.process_time()
            cold = market_sync(market=market)
            cold_times.append(time.perf_counter() - started)
            cold_cpu.append(time.process_time() - cpu)
            assert len(cold.added) == args.apps and not cold.skipped, cold.skipped[:3]

        started = time.perf_counter()
        unchanged = market_sync(market=market)
        unchanged_time = time.perf_counter() - started

        publish_one_fake_version(root, "app-0000", f"1.{args.versions}.0")
        started = time.perf_counter()
        one_new = market_sync(market=market)
        one_new_time = time.perf_counter() - started
        assert one_new.updated == ["app-0000"], one_new.as_dict()

        memory_market = market_add(
            actor=Actor.system(),
            name="bench-memory",
            location=url,
            allow_private_network=True,
        )
        tracemalloc.start()
        market_sync(market=memory_market)
        traced_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rss_after_sync = ru_maxrss_mib()

        # The same market, signed: a subscriber pinning its root (root.json walked,
        # market.json's signature and expiry checked) against one that does not,
        # taking turns so both meet the same load on the host.
        trust_root = sign_market(root)
        plain_times: list[float] = []
        signed_times: list[float] = []
        plain_cpu: list[float] = []
        signed_cpu: list[float] = []
        for attempt in range(args.repeat):
            for pinned, times, cpus in (
                (False, plain_times, plain_cpu),
                (True, signed_times, signed_cpu),
            ):
                market = market_add(
                    actor=Actor.system(),
                    name=f"bench-{'signed' if pinned else 'plain'}-{attempt}",
                    location=url,
                    allow_private_network=True,
                    trust_root=trust_root if pinned else None,
                )
                started, cpu = time.perf_counter(), time.process_time()
                report = market_sync(market=market)
                times.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu)
                assert len(report.added) == args.apps and not report.skipped
                if pinned:
                    assert market.signature["verified"], market.signature
                    signed_cold = report
        started = time.perf_counter()
        signed_unchanged = market_sync(market=market)
        signed_unchanged_time = time.perf_counter() - started
        # The check alone (root.json read, signature and expiry of market.json).
        from market.index import parse_market_json
        from market.services.markets import storage_for_market
        from market.services.signing import market_signature_check

        market.trust_root = json.loads(trust_root)
        storage = storage_for_market(market)
        signed_doc = parse_market_json(storage.get("market.json").data)
        started = time.perf_counter()
        market_signature_check(market=market, storage=storage, doc=signed_doc)
        check_time = time.perf_counter() - started

    yaml_times, yaml_cpu = [], []
    for _ in range(args.repeat):
        started, cpu = time.perf_counter(), time.process_time()
        loaded = yaml.load(index_yaml, Loader=yaml.CSafeLoader)
        yaml_times.append(time.perf_counter() - started)
        yaml_cpu.append(time.process_time() - cpu)
        assert len(loaded["entries"]) == args.apps
        del loaded

    cold_best, yaml_best = min(cold_times), min(yaml_times)
    print(f"figures (best of {args.repeat} where repeated; ratio = figure / YAML baseline)")
    line(
        "YAML baseline: load index.yaml (CSafeLoader)",
        f"{yaml_best:.3f}s ({len(index_yaml) / 2**20:.1f} MiB)",
        "ratio 1.00",
    )
    line(
        "cold sync",
        f"{cold_best:.3f}s, {cold.requests} requests",
        f"ratio {cold_best / yaml_best:.2f}  target <= 1.00 {verdict(cold_best <= yaml_best)}",
    )
    line(
        "unchanged sync",
        f"{unchanged_time * 1000:.1f}ms, {unchanged.requests} request(s)",
        f"ratio {unchanged_time / yaml_best:.4f}  target 1 request "
        + verdict(unchanged.requests == 1),
    )
    line(
        "sync after one new version",
        f"{one_new_time * 1000:.1f}ms, {one_new.requests} requests",
        f"ratio {one_new_time / yaml_best:.4f}  target <= 3 requests "
        + verdict(one_new.requests <= 3),
    )
    plain_best, signed_best = min(plain_times), min(signed_times)
    line(
        "signed market: cold sync, signatures not checked",
        f"{plain_best:.3f}s",
        "ratio 1.00 (baseline of the next line)",
    )
    line(
        "signed market: cold sync, root pinned, verified",
        f"{signed_best:.3f}s, {signed_cold.requests} requests",
        f"ratio {signed_best / plain_best:.3f}  target <= 1.10 "
        + verdict(signed_best <= 1.1 * plain_best),
    )
    line(
        "  the same, CPU time of this process (best)",
        f"{min(signed_cpu):.3f}s / {min(plain_cpu):.3f}s",
        f"ratio {min(signed_cpu) / min(plain_cpu):.3f}  target <= 1.10 "
        + verdict(min(signed_cpu) <= 1.1 * min(plain_cpu)),
    )
    line(
        "  the check alone: root.json + market.json signature",
        f"{check_time * 1000:.1f}ms",
        f"{check_time / signed_best:.2%} of the pinned cold sync",
    )
    line(
        "signed / unsigned market: cold sync, pinned",
        f"{signed_best:.3f}s / {cold_best:.3f}s",
        f"ratio {signed_best / cold_best:.3f}  target <= 1.10 "
        + verdict(signed_best <= 1.1 * cold_best),
    )
    line(
        "signed market: unchanged sync, pinned",
        f"{signed_unchanged_time * 1000:.1f}ms, {signed_unchanged.requests} request(s)",
        "target 1 request " + verdict(signed_unchanged.requests == 1),
    )
    line(
        "signed market, every run: unchecked / pinned",
        ", ".join(f"{a:.2f}/{b:.2f}s" for a, b in zip(plain_times, signed_times, strict=True)),
    )
    line("signed market, every run: CPU unchecked / pinned", runs(plain_cpu, signed_cpu))
    line("cold sync, every run: wall / CPU", runs(cold_times, cold_cpu))
    line("YAML load, every run: wall / CPU", runs(yaml_times, yaml_cpu))
    line("peak traced memory, one cold sync", f"{traced_peak / 2**20:.1f} MiB")
    line(
        "peak RSS before / after the syncs (ru_maxrss)",
        f"{rss_before_sync:.0f} / {rss_after_sync:.0f} MiB",
    )

    if args.no_publish:
        return
    print(f"publish: {args.publishers} processes x {args.per_publisher} versions, local market")
    rates = publish_throughput(workdir, args.publishers, args.per_publisher)
    line(
        "sequential baseline: one process",
        f"{rates['sequential_rate']:.1f} versions/s",
        "ratio 1.00",
    )
    line(
        f"{args.publishers} processes at once",
        f"{rates['concurrent_rate']:.1f} versions/s",
        f"ratio {rates['concurrent_rate'] / rates['sequential_rate']:.2f}, "
        f"{rates['conflicts']} CAS retries, all {rates['total']} published",
    )
    line("peak RSS at the end (ru_maxrss)", f"{ru_maxrss_mib():.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
