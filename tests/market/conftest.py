"""Fixtures shared by the tests of the market app.

Storage fixtures live in ``storage_fixtures.py``; importing them here makes them
available to every test module below (and makes session-scoped ones start once).
"""

from tests.market.storage_fixtures import (  # noqa: F401
    fake_dns,
    flaky_s3,
    http_market,
    loopback_only,
    moto_endpoint,
    storage,
    storage_spec,
)
