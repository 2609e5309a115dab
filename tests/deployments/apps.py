"""A small market of apps for workflow tests, built and published for real.

redis-lite 1.0.0     a dependency, with a writeOnly password rendered into a Secret
web-app 1.0.0/1.1.0  needs redis-lite ^1.0.0, has a writeOnly apiKey
web-app 1.2.0        renders a document with no ``kind``: applied, then refused by
                     verify, as Argo CD would refuse to sync it
loop-a / loop-b      depend on each other (a cycle)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from market.models import Market
from market.package import build_package
from market.services.publish import package_publish
from market.services.sync import market_sync
from portal.actors import Actor
from tests.market.helpers import local_market

REDIS_SCHEMA = {
    "type": "object",
    "properties": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "password": {"type": "string", "writeOnly": True},
    },
}

WEB_SCHEMA = {
    "type": "object",
    "required": ["replicas"],
    "properties": {
        "replicas": {"type": "integer", "minimum": 1, "maximum": 10},
        "image": {
            "type": "object",
            "properties": {"tag": {"type": "string", "pattern": "^[0-9][0-9.]*$"}},
        },
        "logLevel": {"enum": ["debug", "info", "warn"]},
        "apiKey": {"type": "string", "writeOnly": True},
    },
}

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ instance.name }}
  namespace: {{ instance.namespace }}
  labels: {app: {{ app.name }}, version: "{{ app.version }}"}
spec:
  replicas: {{ values.replicas }}
  template:
    spec:
      containers:
        - name: web
          image: "registry.example.org/web:{{ values.image.tag }}"
          env:
            - {name: LOG_LEVEL, value: "{{ values.logLevel }}"}
"""

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ instance.name }}-key
data:
  apiKey: {{ values.apiKey | b64encode }}
"""


def _manifest(name: str, version: str, deps: list[dict[str, str]] | None = None) -> str:
    lines = [
        "schema: 1",
        f"name: {name}",
        f'version: "{version}"',
        f"title: {name.replace('-', ' ').title()}",
        f"summary: {name} for workflow tests",
        "category: testing",
        "license: Apache-2.0",
    ]
    if deps:
        lines.append("dependencies:")
        lines += [f'  - {{name: {d["name"]}, version: "{d["version"]}"}}' for d in deps]
    return "\n".join(lines) + "\n"


def web(version: str, *, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The sources of one web-app version (it needs redis-lite ^1.0.0)."""
    return {
        "manifest.yaml": _manifest(
            "web-app", version, [{"name": "redis-lite", "version": "^1.0.0"}]
        ),
        "values.yaml": 'replicas: 2\nimage: {tag: "1.0"}\nlogLevel: info\napiKey: ""\n',
        "values.schema.json": json.dumps(WEB_SCHEMA),
        "templates/deployment.yaml": DEPLOYMENT,
        "templates/secret.yaml": SECRET,
        **(extra or {}),
    }


def sources() -> dict[tuple[str, str], dict[str, str]]:
    redis = {
        "manifest.yaml": _manifest("redis-lite", "1.0.0"),
        "values.yaml": 'port: 6379\npassword: ""\n',
        "values.schema.json": json.dumps(REDIS_SCHEMA),
        "templates/service.yaml": (
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ instance.name }}\n"
            "spec:\n  ports: [{port: {{ values.port }}}]\n"
        ),
        "templates/secret.yaml": (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ instance.name }}-auth\n"
            "data:\n  password: {{ values.password | b64encode }}\n"
        ),
    }
    return {
        ("redis-lite", "1.0.0"): redis,
        ("web-app", "1.0.0"): web("1.0.0"),
        ("web-app", "1.1.0"): web(
            "1.1.0",
            extra={
                "templates/configmap.yaml": (
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ instance.name }}\n"
                    'data:\n  replicas: "{{ values.replicas }}"\n'
                )
            },
        ),
        ("web-app", "1.2.0"): web(
            "1.2.0",
            extra={"templates/broken.yaml": "apiVersion: v1\nmetadata:\n  name: no-kind\n"},
        ),
        ("loop-a", "1.0.0"): {
            "manifest.yaml": _manifest("loop-a", "1.0.0", [{"name": "loop-b", "version": "*"}]),
        },
        ("loop-b", "1.0.0"): {
            "manifest.yaml": _manifest("loop-b", "1.0.0", [{"name": "loop-a", "version": "*"}]),
        },
    }


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def publish(market: Market, tmp_path: Path, app: str, version: str, files: dict[str, str]) -> None:
    """Build one package from ``files`` and publish it into ``market`` (not synced)."""
    folder = write(tmp_path / "src" / app / version, files)
    built = build_package(folder, out_dir=tmp_path / "built")
    package_publish(actor=Actor.system(), market=market, data=built.path.read_bytes())


def workflow_market(tmp_path: Path, name: str = "apps", **only: Any) -> Market:
    """A local market holding the apps above, synced into the catalogue."""
    market = local_market(tmp_path, name)
    for (app, version), files in sources().items():
        publish(market, tmp_path, app, version, files)
    market_sync(market=market)
    return market
