"""Benchmark: the database search backend's spelling correction against a plain query.

    .venv/bin/python bench/search_database.py [--apps 5000] [--queries 200]

The embedded default (and Elasticsearch's fallback) corrects a query that finds
nothing ("promethues") against the catalogue's words and searches again. This prints
what that costs: a misspelled query beside a correctly spelled one (the baseline), the
correction alone with the vocabulary cached and cold, and the suggestions endpoint's
search. Sets Django up on its own (bench/environment.py), without Elasticsearch.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# As in bench/search.py: this folder must not shadow the portal's `search` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.environment import django_environment  # noqa: E402
from bench.search import TYPOS, WORDS, line, make_catalogue, percentile  # noqa: E402


def timed(call: Callable[[str], Any], queries: list[str]) -> list[float]:
    seconds = []
    for q in queries:
        started = time.perf_counter()
        call(q)
        seconds.append(time.perf_counter() - started)
    return seconds


def report(label: str, seconds: list[float], baseline: list[float] | None = None) -> None:
    median = statistics.median(seconds) * 1000
    note = f"p95 {percentile(seconds, 0.95) * 1000:.1f} ms"
    if baseline:
        note += f"  ratio {median / (statistics.median(baseline) * 1000):.2f}"
    line(label, f"median {median:.1f} ms", note)


def run(args: argparse.Namespace, database: str) -> None:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from search.backends.base import SearchQuery
    from search.backends.database import DatabaseBackend
    from search.backends.spelling import spelling_correct, vocabulary_build, vocabulary_get

    print(f"search on the database backend: {args.apps} apps, {args.queries} queries, {database}")
    make_catalogue(args.apps)
    user = get_user_model().objects.create_user("bench")
    backend = DatabaseBackend()
    rng = random.Random(5)

    def page(q: str) -> Any:
        return backend.search(SearchQuery(q=q), user=user)

    def suggest(q: str) -> Any:
        return backend.suggest(q, user=user)

    plain = [rng.choice(WORDS) for _ in range(args.queries)]
    typos = [rng.choice(TYPOS) for _ in range(args.queries)]
    assert all(spelling_correct(q) for q in TYPOS), "every typo should be corrected"

    # Turns, so that load from elsewhere on the host hits both sides alike.
    plain_s: list[float] = []
    typo_s: list[float] = []
    for p, t in zip(plain, typos, strict=True):
        plain_s += timed(page, [p])
        typo_s += timed(page, [t])
    print("one page of results (ratio = against the plain query)")
    report("plain query, correctly spelled (baseline)", plain_s)
    report("misspelled: miss, correct, search again", typo_s, plain_s)

    vocabulary_get()
    words = sum(len(group) for group in vocabulary_build().values())
    print(f"the correction alone ({words} words in the vocabulary)")
    report(
        "spelling_correct, vocabulary cached",
        timed(spelling_correct, typos),
        plain_s,
    )
    cold = []
    for t in typos[: max(5, args.queries // 10)]:
        cache.clear()
        cold += timed(spelling_correct, [t])
    report("spelling_correct, vocabulary rebuilt", cold, plain_s)

    print("suggestions as the user types")
    prefixes = [w[: rng.randint(3, len(w))] for w in plain]
    report(
        "suggest (candidates ranked)",
        timed(suggest, prefixes),
        plain_s,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-search-db-") as tmp,
        django_environment(
            Path(tmp), unset=("ELASTICSEARCH_URL", "REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")
        ) as described,
    ):
        run(args, described)


if __name__ == "__main__":
    main()
