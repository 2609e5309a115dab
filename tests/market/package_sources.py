"""A realistic package source folder (the SPEC's log-analyzer) written for tests."""

from __future__ import annotations

import json
from pathlib import Path

LOG_ANALYZER: dict[str, str] = {
    "manifest.yaml": """\
schema: 1
name: log-analyzer
version: 1.4.2
title: Log Analyzer
summary: Finds error bursts in container logs
description: |
  Tails container logs through the log collector, groups errors by signature and
  raises an alert when a burst starts.
category: observability
keywords: [logs, alerting]
license: Apache-2.0
homepage: https://example.org/log-analyzer
maintainers: [{name: Ops Team, email: ops@example.org}]
dependencies:
  - {name: redis-ops, version: ">=1.2.0 <2.0.0"}
components:
  - {name: config, templates: [templates/config/*.yaml]}
  - {name: api, templates: [templates/api/*.yaml]}
""",
    "README.md": "# Log Analyzer\n\nFinds error bursts in container logs.\n",
    "docs/configuration.md": "# Configuration\n\nSet `threshold` to the errors per minute.\n",
    "docs/runbooks/burst.md": "# When a burst alert fires\n\n1. Look at the top signature.\n",
    "values.yaml": """\
replicas: 2
image: registry.example.org/ops/log-analyzer:1.4.2
threshold: 50
database:
  host: redis-ops
  port: 6379
  password: ""
""",
    "values.schema.json": json.dumps(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["replicas", "database"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1, "maximum": 20},
                "image": {"type": "string"},
                "threshold": {"type": "integer", "minimum": 1},
                "database": {
                    "type": "object",
                    "required": ["host"],
                    "properties": {
                        "host": {"type": "string", "minLength": 1},
                        "port": {"type": "integer"},
                        "password": {"type": "string", "writeOnly": True},
                    },
                    "additionalProperties": False,
                },
            },
        },
        indent=2,
    ),
    "templates/_helpers.j2": """\
{% macro labels(instance, app) -%}
app.kubernetes.io/name: {{ app.name }}
app.kubernetes.io/instance: {{ instance.name }}
app.kubernetes.io/version: {{ app.version | quote }}
{%- endmacro %}
""",
    "templates/config/secret.yaml": """\
apiVersion: v1
kind: Secret
metadata:
  name: {{ instance.name }}-db
  namespace: {{ instance.namespace }}
data:
  password: {{ values.database.password | b64encode }}
""",
    "templates/api/deployment.yaml": """\
{% import "templates/_helpers.j2" as helpers %}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ instance.name }}-api
  namespace: {{ instance.namespace }}
  labels:
    {{ helpers.labels(instance, app) | indent(4) }}
  annotations:
    ops-market/revision: "{{ instance.revision }}"
spec:
  replicas: {{ values.replicas }}
  template:
    spec:
      containers:
        - name: api
          image: {{ values.image }}
          env:
            - name: THRESHOLD
              value: "{{ values.threshold }}"
            - name: REDIS_HOST
              value: {{ values.database.host }}:{{ values.database.port }}
""",
    "templates/api/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ instance.name }}-api
  namespace: {{ instance.namespace }}
spec:
  ports:
    - port: 8080
""",
    "templates/extra/networkpolicy.yaml": """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ instance.name }}-deny
  namespace: {{ instance.namespace }}
spec:
  podSelector: {}
""",
    "icon.svg": '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"/>\n',
    "bin/collect.sh": "#!/bin/sh\necho collecting\n",
}


def write_source(root: Path, files: dict[str, str | bytes | None] | None = None) -> Path:
    """Write the log-analyzer source under ``root`` with ``files`` added or replaced (a
    None value leaves a file out); return the folder."""
    contents: dict[str, str | bytes | None] = {**LOG_ANALYZER, **(files or {})}
    root.mkdir(parents=True, exist_ok=True)
    for relative, data in contents.items():
        if data is None:
            continue
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    script = root / "bin" / "collect.sh"
    if script.exists():
        script.chmod(0o755)
    return root
