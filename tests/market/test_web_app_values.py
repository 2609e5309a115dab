"""The app page's Values tab: default values and schema of the version shown, read
from its archive, escaped, with secret defaults masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from market.package import build_package
from market.services.publish import package_publish
from portal.actors import Actor
from tests.factories import make_user
from tests.market.helpers import local_market
from tests.market.package_sources import write_source

pytestmark = pytest.mark.django_db

HOSTILE_VALUES = """\
# Replicas behind the </code><script>alert(1)</script> service.
replicas: 2
image: registry.example.org/ops/log-analyzer:1.4.2
threshold: 50
database:
  host: redis-ops
  port: 6379
  password: "{password}"
"""


def publish(tmp_path: Path, *, password: str, version: str = "1.4.2") -> None:
    market = local_market(tmp_path)
    source = write_source(
        tmp_path / f"src-{version}",
        {"values.yaml": HOSTILE_VALUES.format(password=password)},
    )
    built = build_package(source, out_dir=tmp_path / "built")
    package_publish(actor=Actor.system(), market=market, data=built.path.read_bytes())


def values_tab(client) -> str:
    html = client.get("/market/main/log-analyzer/").content.decode()
    return html.split('id="app-values"', 1)[1].split('role="tabpanel"', 1)[0]


def test_values_tab_shows_the_file_as_published_and_the_schema_escaped(client, tmp_path):
    publish(tmp_path, password="")
    client.force_login(make_user())

    tab = values_tab(client)

    assert "# Replicas behind the &lt;/code&gt;&lt;script&gt;" in tab  # comments kept
    assert "<script>" not in tab
    assert "threshold: 50" in tab
    assert "values.schema.json" in tab and "&quot;writeOnly&quot;: true" in tab


def test_a_secret_default_is_masked_in_the_values_tab(client, tmp_path):
    publish(tmp_path, password="hunter2-default")
    client.force_login(make_user())

    tab = values_tab(client)

    assert "hunter2-default" not in tab
    assert "password: &#x27;********&#x27;" in tab or "password: &#39;********&#39;" in tab
    assert "are masked" in tab
