"""`pattern` and `patternProperties` in values.schema.json are matched in linear time
(SPEC section 11): a catastrophic-backtracking pattern answers at once, at publish
through the API and when install values are checked, and a pattern a linear-time
engine cannot run (backreferences, lookaround) is refused at publish."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from market.models import Market
from market.package.schema import schema_errors
from portal.models import Role
from tests.factories import make_team, make_token, make_user
from tests.market.api_helpers import (
    api_publish,
    catalogue_state,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    tree,
)
from tests.market.archives import NAME, package_archive
from tests.market.helpers import local_market

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_tasks")]

FILENAME = f"{NAME}-1.4.2.tgz"
EVIL = "^(a+)+$"
# 2**40 backtracking steps for Python's re: never ends in practice.
EVIL_INPUT = "a" * 40 + "!"


def schema(**properties: Any) -> str:
    return json.dumps({"type": "object", "properties": properties})


@pytest.fixture
def publishing(tmp_path: Path) -> tuple[Market, Path, APIClient]:
    market = local_market(tmp_path, "main")
    operator = make_user("alice")
    market.publishers.add(make_team("publishers", members={operator: Role.OPERATOR}))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(operator)}")
    return market, tmp_path / "market-main", client


def test_a_backtracking_pattern_against_its_default_is_refused_at_once(
    publishing: tuple[Market, Path, APIClient],
) -> None:
    market, root, client = publishing
    data = package_archive(
        files={
            "values.yaml": f"name: '{EVIL_INPUT}'\n",
            "values.schema.json": schema(name={"type": "string", "pattern": EVIL}),
        }
    )
    before = tree(root), catalogue_state(market)

    response = api_publish(client, "main", FILENAME, data)

    assert response.status_code == 400, response.content
    assert response.json()["error"] == "package_values_schema"
    assert "name" in response.json()["detail"]
    assert (tree(root), catalogue_state(market)) == before


@pytest.mark.parametrize(
    ("where", "pattern"),
    [("pattern", "^(a)\\1$"), ("pattern", "^(?=a)b"), ("patternProperties", "(?<!x)y")],
)
def test_a_pattern_without_a_linear_time_match_is_refused_at_publish(
    publishing: tuple[Market, Path, APIClient], where: str, pattern: str
) -> None:
    market, root, client = publishing
    if where == "pattern":
        values_schema = schema(name={"type": "string", "pattern": pattern})
    else:
        values_schema = json.dumps({"type": "object", "patternProperties": {pattern: {}}})
    data = package_archive(files={"values.yaml": "", "values.schema.json": values_schema})
    before = tree(root), catalogue_state(market)

    response = api_publish(client, "main", FILENAME, data)

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "package_values_schema_invalid"
    assert pattern in body["detail"] and "linear time" in body["detail"]
    assert (tree(root), catalogue_state(market)) == before


def test_install_values_against_backtracking_patterns_answer_at_once() -> None:
    values_schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": EVIL}},
        "patternProperties": {EVIL: {"type": "string"}},
        "additionalProperties": False,
    }

    problems = schema_errors(values_schema, {"name": EVIL_INPUT, EVIL_INPUT: "x"})

    assert any(p.startswith("name:") and "does not match" in p for p in problems)
    assert any("not match any of the regexes" in p for p in problems)
    assert schema_errors(values_schema, {"name": "aaa", "aa": "x"}) == []
