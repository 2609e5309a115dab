"""Render limits at publish (SPEC section 11): a package whose templates would exhaust
memory or CPU when compiled or rendered is refused with ``render_limit`` through the
real API and command, and neither the market's storage nor the database changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from market.models import Market
from market.package.jinja import make_environment
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from portal.models import Role
from tests.factories import make_team, make_token, make_user
from tests.market.api_helpers import (
    api_publish,
    catalogue_state,
    queued_tasks_fixture,  # noqa: F401 - the queued_tasks fixture
    run_command,
    tree,
)
from tests.market.archives import NAME, manifest_text, package_archive
from tests.market.helpers import local_market

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_tasks")]

FILENAME = f"{NAME}-1.4.2.tgz"

# Each was reported against the running portal: memory, CPU or a 500 while validating.
HOSTILE_TEMPLATES = {
    "string-repeat-folded-at-compile": '{{ "ab" * (10**8) }}',
    "huge-power": "{{ 7 ** (4 * 10**6) }}",
    "power-of-ten": "{{ 10 ** (10**6) }}",
    "nested-loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    ),
    "doubling-a-string": (
        '{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}'
        "{% endfor %}x: {{ ns.s | length }}"
    ),
    "filter-width": '{{ "x" | center(10**9) }}',
    "method-width": '{{ "x".ljust(3 * 10**8) }}',
    "output-flood": (
        "{% for i in range(100000) %}{% for j in range(1000) %}ab{% endfor %}{% endfor %}"
    ),
    "autoescape-expression": '{% autoescape "ab" * (10**8) %}x{% endautoescape %}',
}


def hostile_package(template: str) -> bytes:
    return package_archive(files={"templates/api/bomb.yaml": template})


@pytest.fixture
def publishing(tmp_path: Path, settings: Any) -> tuple[Market, Path, APIClient]:
    settings.RENDER_TIMEOUT_SECONDS = 2
    market = local_market(tmp_path, "main")
    operator = make_user("alice")
    team = make_team("publishers", members={operator: Role.OPERATOR})
    market.publishers.add(team)
    seed = package_archive(manifest=manifest_text(version="1.4.0"))
    package_publish(actor=Actor.system(), market=market, data=seed, filename=f"{NAME}-1.4.0.tgz")
    market_sync(market=market)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(operator)}")
    return market, tmp_path / "market-main", client


@pytest.mark.parametrize("case", list(HOSTILE_TEMPLATES))
def test_api_refuses_a_package_past_a_render_limit_and_changes_nothing(
    publishing: tuple[Market, Path, APIClient], case: str
) -> None:
    market, root, client = publishing
    storage_before = tree(root)
    db_before = catalogue_state(market)

    response = api_publish(client, "main", FILENAME, hostile_package(HOSTILE_TEMPLATES[case]))

    assert response.status_code == 400, response.content
    body = response.json()
    # autoescape with an expression is refused as it is read: it would be folded.
    expected = "template_syntax" if case == "autoescape-expression" else "render_limit"
    assert body["error"] == f"package_{expected}"
    assert "\n" not in body["detail"]
    assert tree(root) == storage_before
    assert catalogue_state(market) == db_before


def test_cli_refuses_a_package_past_a_render_limit_with_status_1(
    publishing: tuple[Market, Path, APIClient], tmp_path: Path
) -> None:
    _market, root, _client = publishing
    path = tmp_path / "upload" / FILENAME
    path.parent.mkdir()
    path.write_bytes(hostile_package(HOSTILE_TEMPLATES["nested-loops"]))
    storage_before = tree(root)

    result = run_command("market_publish", str(path), market="main")

    assert result.status == 1
    assert result.stderr.startswith("refused: ")
    assert "longer than 2 seconds" in result.stderr
    assert tree(root) == storage_before


def test_a_package_needing_a_value_the_defaults_lack_is_still_checked_and_accepted(
    publishing: tuple[Market, Path, APIClient],
) -> None:
    _market, _root, client = publishing
    # values.password has no default: the trial render goes on past it.
    template = "password: {{ values.password | b64encode }}\nhost: {{ resources.REGISTRY }}\n"

    response = api_publish(client, "main", FILENAME, hostile_package(template))

    assert response.status_code == 201, response.content


def test_compiling_a_template_evaluates_no_expression() -> None:
    env = make_environment({})

    source = env.compile('{{ "ab" * (10**8) }} {{ 10**20 }} {{ [1, 2] | join("-") }}', raw=True)

    assert "abab" not in source
    assert "100000000000000000000" not in source
    assert "1-2" not in source
    assert env.from_string('a{{ 2 * 3 }}b {{ "x" | b64encode }}').render() == "a6b eA=="
