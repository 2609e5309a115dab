"""Fixtures shared by the tests of the market app.

Storage fixtures live in ``storage_fixtures.py``; importing them here makes them
available to every test module below (and makes session-scoped ones start once).
"""

import pytest

from tests.market.storage_fixtures import (  # noqa: F401
    atomic_s3_endpoint,
    fake_dns,
    flaky_s3,
    http_market,
    loopback_only,
    moto_endpoint,
    storage,
    storage_spec,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs_atomic_s3: the s3 variant of storage_spec must decide conditional writes "
        "atomically (see storage_fixtures.atomic_s3_endpoint)",
    )
