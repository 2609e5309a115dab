"""A fresh Kubernetes namespace on the test API server and the few calls the live-state
tests make: server-side apply as the portal does it, a merge patch as a person with
kubectl would, and a status write as a controller would (none runs on the test server).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient

from deployments.kube import ClusterAccess, api_client
from tests.deployments.kube_support import KubeServer

# kind: (path prefix, plural, namespaced); only the kinds these tests use.
_RESOURCES: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Secret": ("/api/v1", "secrets", True),
    "Service": ("/api/v1", "services", True),
    "Pod": ("/api/v1", "pods", True),
    "PersistentVolumeClaim": ("/api/v1", "persistentvolumeclaims", True),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True),
    "Job": ("/apis/batch/v1", "jobs", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "Ingress": ("/apis/networking.k8s.io/v1", "ingresses", True),
}


class KubeNamespace:
    def __init__(self, api: ApiClient, name: str) -> None:
        self.api = api
        self.name = name

    def apply(self, obj: dict[str, Any], *, manager: str = "ops-market") -> dict[str, Any]:
        """Server-side apply, forced, as the Kubernetes target does; returns the live
        object the server answers."""
        return self._request(
            "PATCH",
            self._path(obj),
            obj,
            "application/apply-patch+yaml",  # JSON is YAML
            [("fieldManager", manager), ("force", "true")],
        )

    def edit(
        self,
        obj: dict[str, Any],
        patch: dict[str, Any],
        *,
        manager: str = "kubectl-edit",
        strategic: bool = False,
    ) -> dict[str, Any]:
        """A hand edit by another field manager: a JSON merge patch, or kubectl's
        strategic merge patch (lists of containers merged by name)."""
        kind = "strategic-merge-patch" if strategic else "merge-patch"
        return self._request(
            "PATCH", self._path(obj), patch, f"application/{kind}+json", [("fieldManager", manager)]
        )

    def write_status(self, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """What a controller would write: a merge patch of the status subresource."""
        return self._request(
            "PATCH",
            self._path(obj) + "/status",
            {"status": status},
            "application/merge-patch+json",
            [("fieldManager", "test-controller")],
        )

    def get(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._request("GET", self._path(obj), None, "application/json", [])

    def _path(self, obj: dict[str, Any]) -> str:
        prefix, plural, namespaced = _RESOURCES[obj["kind"]]
        name = obj["metadata"]["name"]
        if namespaced:
            return f"{prefix}/namespaces/{self.name}/{plural}/{name}"
        return f"{prefix}/{plural}/{name}"

    def _request(
        self,
        method: str,
        path: str,
        body: Any,
        content_type: str,
        query: list[tuple[str, str]],
    ) -> dict[str, Any]:
        response = self.api.call_api(
            path,
            method,
            query_params=query,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=(10, 10),
        )
        answer: dict[str, Any] = json.loads(response.data)
        return answer


def unique_name(prefix: str) -> str:
    # Deleted namespaces stay Terminating on a server without controllers: never reuse.
    return f"{prefix}-{secrets.token_hex(4)}"


@pytest.fixture
def kube_namespace(kube: KubeServer) -> Iterator[KubeNamespace]:
    """A namespace of the test's own, never deleted (see unique_name)."""
    access = ClusterAccess(
        server=kube.url, token=kube.token, ca_cert=kube.ca_cert, allow_private_network=True
    )
    with api_client(access) as api:
        namespace = KubeNamespace(api, unique_name("live"))
        namespace.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace.name}}
        )
        yield namespace
