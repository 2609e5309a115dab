"""An app for the Kubernetes target tests, built and published for real (issue 12's
"must show"): a Deployment, a Service, a ConfigMap, a Secret and a ClusterRole.

shop-app 1.0.0   all five objects
shop-app 1.1.0   drops the ConfigMap (pruned by the upgrade)
shop-app 1.2.0   adds a Service the API server refuses (port 99999): 422
"""

from __future__ import annotations

import json
from pathlib import Path

from market.models import Market
from market.services.sync import market_sync
from tests.deployments.apps import _manifest, publish
from tests.market.helpers import local_market

SCHEMA = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
        "password": {"type": "string", "writeOnly": True},
    },
}

TEMPLATES = {
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ instance.name }}
spec:
  replicas: {{ values.replicas }}
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: shop
          image: "registry.example.org/shop:{{ app.version }}"
          ports: [{containerPort: 8080}]
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ instance.name }}
spec:
  selector: {app: shop}
  ports: [{port: 80, targetPort: 8080}]
""",
    "templates/configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ instance.name }}-config
data:
  replicas: "{{ values.replicas }}"
""",
    "templates/secret.yaml": """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ instance.name }}-auth
data:
  password: {{ values.password | b64encode }}
""",
    "templates/clusterrole.yaml": """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ instance.namespace }}-{{ instance.name }}-reader
rules:
  - {apiGroups: [""], resources: [pods], verbs: [get, list]}
""",
}

BROKEN_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {{ instance.name }}-broken
spec:
  ports: [{port: 99999}]
"""


def shop(version: str) -> dict[str, str]:
    templates = dict(TEMPLATES)
    if version != "1.0.0":
        templates.pop("templates/configmap.yaml")
    if version == "1.2.0":
        templates["templates/zz-broken.yaml"] = BROKEN_SERVICE
    return {
        "manifest.yaml": _manifest("shop-app", version),
        "values.yaml": 'replicas: 2\npassword: ""\n',
        "values.schema.json": json.dumps(SCHEMA),
        **templates,
    }


def kube_market(tmp_path: Path, name: str = "kapps") -> Market:
    market = local_market(tmp_path, name)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        publish(market, tmp_path, "shop-app", version, shop(version))
    market_sync(market=market)
    return market
