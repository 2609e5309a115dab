"""Django set up for a benchmark run: a private data folder and database, migrated.

Shared by market_sync.py, search.py and workflow.py so that each measures against a
database nobody else uses, and leaves nothing behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


@contextmanager
def django_environment(workdir: Path, *, unset: Iterable[str]) -> Iterator[str]:
    """Point Django at ``workdir/data`` and a fresh database (SQLite there, or a new
    PostgreSQL database beside DATABASE_URL's, dropped afterwards), remove the `unset`
    variables, set Django up and migrate. Yields a description of the database.

    DATABASE_URL is rewritten in os.environ: worker processes started inside inherit
    the same fresh database."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ["PORTAL_DATA_DIR"] = str(workdir / "data")
    # Measured as deployed: DEBUG on makes every query keep its SQL and timing in
    # connection.queries, a cost no production process pays. A throwaway key: the
    # benchmark's database is dropped at the end. No TLS: requests are in-process
    # (the test client's "testserver"), as `make run` serves loopback.
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(48)
    os.environ["ALLOWED_HOSTS"] = "localhost,testserver"
    os.environ["PORTAL_TLS"] = "0"
    for name in unset:
        os.environ.pop(name, None)
    drop: Callable[[], None] | None = None
    described = "SQLite in " + str(workdir / "data")
    if os.environ.get("DATABASE_URL"):
        url, drop = fresh_postgres_database(os.environ["DATABASE_URL"])
        os.environ["DATABASE_URL"] = url
        described = "PostgreSQL " + urlsplit(url).path.lstrip("/")
    try:
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        yield described
    finally:
        if drop is not None:
            from django.db import connections

            connections.close_all()
            drop()


def fresh_postgres_database(url: str) -> tuple[str, Callable[[], None]]:
    """A new database next to the one `url` names, and a function that drops it: the
    bench never writes into a database someone uses."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'postgres'}_bench_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    return urlunsplit(parts._replace(path="/" + name)), drop
