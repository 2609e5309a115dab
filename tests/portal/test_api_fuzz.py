"""Fuzzing the API from its OpenAPI schema with schemathesis (issue 11): no request,
however malformed, gets a 5xx.

Against the running portal (pytest-django's live_server, a real threaded HTTP
server on the suite's database), authenticated with a staff token so generated
requests reach the code behind the permission checks. Bounded (FUZZ_EXAMPLES per
operation, no shrinking past the first failure) so it runs in the suite in about
two minutes and guards every change; `FUZZ_EXAMPLES=500 pytest -m fuzz` digs deeper.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from celery.app.task import Task
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from portal.models import Role
from tests.factories import make_namespace, make_team, make_token, make_user

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
pytestmark = [pytest.mark.fuzz, pytest.mark.slow]


@pytest.fixture
def fuzz_call(live_server: Any, transactional_db: None, monkeypatch: Any) -> dict[str, Any]:
    """Where and how to call: the live server's URL and a staff token's header."""
    # Fake, named so: the broker. Generated requests queue syncs and builds; none
    # of them may reach a worker of the real queue (nor run inline: a build of a
    # generated git URL is not what this test is about).
    monkeypatch.setattr(Task, "apply_async", lambda self, *args, **kwargs: None)
    staff = make_user("fuzz-admin", staff=True)
    team = make_team("fuzz-team", members={staff: Role.ADMIN})
    make_namespace(team, "fuzz-ns")
    headers = {"Authorization": f"Bearer {make_token(staff)}"}
    return {"base_url": live_server.url, "headers": headers}


@pytest.fixture
def fuzz_schema(fuzz_call: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_url(
        f"{fuzz_call['base_url']}/api/v1/schema/", headers=fuzz_call["headers"]
    )


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(case: Any, fuzz_call: dict[str, Any]) -> None:
    case.call_and_validate(**fuzz_call, checks=[not_a_server_error], timeout=30)
