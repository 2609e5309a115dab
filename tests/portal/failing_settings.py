"""The portal's settings with one page that always fails, to see the 500 page the
run command serves (tests/portal/test_run_embedded.py)."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "tests.portal.failing_urls"
