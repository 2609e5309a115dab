"""One conversation with an API server on behalf of the Kubernetes target: plain REST
calls through the guarded client of ``deployments.kube``, the cluster's discovery
(which kinds exist, their resource names, namespaced or not), and errors sorted
into what retrying can fix and what it cannot.

Plain REST rather than the generated typed APIs: the target applies whatever kinds
a package brings, custom resources included, and needs the server's own JSON back
to compare it with what it applied.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.conf import settings
from kubernetes import client
from kubernetes.client.rest import ApiException

from deployments.kube import (
    ClusterAccess,
    api_client,
    clean_message,
    connection_error,
    server_message,
)
from deployments.targets.base import TargetError, TargetUnavailable
from deployments.targets.kubernetes.objects import FIELD_MANAGER, ObjectRef

# How long a cluster's list of kinds is trusted. A kind missing from it is looked up
# again at once (a CRD applied a moment ago), so this only bounds how long a removed
# kind is believed to exist.
DISCOVERY_SECONDS = 300.0
# A CRD applied by the same operation takes a moment before its kind is served.
NEW_KIND_WAIT_SECONDS = 10.0


class KubeRefused(TargetError):
    """The server answered and refused (400, 403, 404, 409, 422, an admission webhook):
    the message is the server's, for the operation step and the instance page."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Resource:
    path: str  # /api/v1 or /apis/<group>/<version>
    plural: str
    namespaced: bool


class _Discovery:
    """Kinds served per (server, apiVersion), shared by the sessions of a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[str, str], tuple[float, dict[str, Resource]]] = {}

    def get(self, server: str, api_version: str) -> dict[str, Resource] | None:
        with self._lock:
            entry = self._found.get((server, api_version))
        if entry is None or time.monotonic() - entry[0] > DISCOVERY_SECONDS:
            return None
        return entry[1]

    def put(self, server: str, api_version: str, kinds: dict[str, Resource]) -> None:
        with self._lock:
            self._found[(server, api_version)] = (time.monotonic(), kinds)


_discovery = _Discovery()


class KubeSession:
    def __init__(self, api: client.ApiClient, access: ClusterAccess) -> None:
        self._api = api
        self._access = access
        self.requests = 0  # counted for the benchmarks

    # --- plain requests ------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        absent_ok: bool = False,
    ) -> dict[str, Any] | None:
        """The server's JSON answer; None for a 404 with ``absent_ok``. Raises
        KubeRefused for a refusal and TargetUnavailable for no answer, a 5xx or a
        429 (retried later by the engine)."""
        self.requests += 1
        seconds = float(settings.CLUSTER_TIMEOUT_SECONDS)
        try:
            response = self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=(seconds, seconds),
            )
        except ApiException as exc:
            if absent_ok and exc.status == 404:
                return None
            raise self._error(method, path, exc) from None
        except Exception as exc:  # no HTTP answer: refused, reset, TLS, the guard
            raise TargetUnavailable(connection_error(exc, self._access)) from None
        data = response.data
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            raise TargetUnavailable(f"{method} {path}: the answer is not JSON") from None
        return answer if isinstance(answer, dict) else {}

    def _error(self, method: str, path: str, exc: ApiException) -> TargetError:
        message = server_message(exc)
        status = int(exc.status or 0)
        text = clean_message(
            message or f"{method} {path}: {status} {exc.reason or ''}", self._access
        )
        if status == 0 or status >= 500 or status == 429:
            return TargetUnavailable(f"the API server answered {status}: {text}")
        if status == 401:
            return KubeRefused("the API server refused the cluster's token (401)", status=401)
        return KubeRefused(text, status=status)

    # --- discovery -----------------------------------------------------------------

    def resource(self, api_version: str, kind: str, *, wait: bool = False) -> Resource:
        """Where objects of ``kind`` live. KubeRefused when the cluster does not serve
        the kind; with ``wait``, a kind that may be about to appear (its CRD was just
        applied) is looked for a little longer."""
        kinds = _discovery.get(self._access.server, api_version)
        if kinds is not None and kind in kinds:
            return kinds[kind]
        deadline = time.monotonic() + (NEW_KIND_WAIT_SECONDS if wait else 0.0)
        while True:
            kinds = self._discover(api_version)
            if kind in kinds:
                return kinds[kind]
            if time.monotonic() >= deadline:
                raise KubeRefused(
                    f"the cluster has no kind {kind} in {api_version} (is its CRD installed?)",
                    status=404,
                )
            time.sleep(0.5)

    def namespaced(self, api_version: str, kind: str) -> bool:
        """For kube_objects. A kind the cluster does not know yet is taken as
        namespaced when no CRD says otherwise: applying it says the rest."""
        try:
            return self.resource(api_version, kind).namespaced
        except KubeRefused:
            return True

    def _discover(self, api_version: str) -> dict[str, Resource]:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        answer = self.request("GET", path, absent_ok=True) or {}
        kinds: dict[str, Resource] = {}
        for item in answer.get("resources") or []:
            name = str(item.get("name") or "")
            if not name or "/" in name:  # subresources: deployments/status
                continue
            kinds[str(item.get("kind"))] = Resource(path, name, bool(item.get("namespaced")))
        _discovery.put(self._access.server, api_version, kinds)
        return kinds

    # --- objects -------------------------------------------------------------------

    def object_path(self, ref: ObjectRef, *, wait: bool = False) -> str:
        resource = self.resource(ref.api_version, ref.kind, wait=wait)
        return self.collection_path(resource, ref.namespace) + "/" + quote(ref.name, safe="")

    @staticmethod
    def collection_path(resource: Resource, namespace: str) -> str:
        if resource.namespaced:
            return f"{resource.path}/namespaces/{quote(namespace, safe='')}/{resource.plural}"
        return f"{resource.path}/{resource.plural}"

    def apply(self, ref: ObjectRef, body: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply as field manager ``ops-market``, forcing conflicts: the
        portal owns the fields its packages set (a hand edit is drift, put back)."""
        answer = self.request(
            "PATCH",
            self.object_path(ref, wait=True),
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=body,
            content_type="application/apply-patch+yaml",
        )
        return answer or {}

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        try:
            path = self.object_path(ref)
        except KubeRefused:  # the kind is gone (its CRD was deleted): so is the object
            return None
        return self.request("GET", path, absent_ok=True)

    def delete(self, ref: ObjectRef) -> bool:
        """Delete one object; False when it was not there. Background propagation: the
        server's garbage collector (where it runs) removes what the object owns."""
        try:
            path = self.object_path(ref)
        except KubeRefused:
            return False
        answer = self.request(
            "DELETE",
            path,
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
            absent_ok=True,
        )
        return answer is not None

    def list_labelled(
        self, api_version: str, kind: str, namespace: str, selector: str
    ) -> list[ObjectRef]:
        """Objects of one kind carrying ``selector``'s labels, in ``namespace`` for a
        namespaced kind, cluster-wide otherwise."""
        return [ref for ref, _ in self.list_objects(api_version, kind, namespace, selector)]

    def list_objects(
        self, api_version: str, kind: str, namespace: str, selector: str
    ) -> list[tuple[ObjectRef, dict[str, Any]]]:
        """Like list_labelled, with each live object: one request for any number of
        objects (the live state of a whole namespace costs one list per kind)."""
        try:
            resource = self.resource(api_version, kind)
        except KubeRefused:
            return []
        answer = self.request(
            "GET",
            self.collection_path(resource, namespace),
            query=[("labelSelector", selector)],
            absent_ok=True,
        )
        found = []
        for item in (answer or {}).get("items") or []:
            metadata = item.get("metadata") or {}
            ref = ObjectRef(
                api_version,
                kind,
                str(metadata.get("namespace") or "") if resource.namespaced else "",
                str(metadata.get("name") or ""),
            )
            # A list's items carry no apiVersion/kind of their own.
            found.append((ref, {"apiVersion": api_version, "kind": kind, **item}))
        return found

    def namespace_ensure(self, name: str) -> bool:
        """Create the Kubernetes namespace when missing (SPEC 9); True when created.
        It is created plainly, not applied: it outlives every instance in it."""
        if self.request("GET", f"/api/v1/namespaces/{quote(name, safe='')}", absent_ok=True):
            return False
        try:
            self.request(
                "POST",
                "/api/v1/namespaces",
                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            )
        except KubeRefused as exc:
            if exc.status == 409:  # created by a concurrent operation
                return False
            raise KubeRefused(f"creating namespace {name}: {exc}", status=exc.status) from None
        return True


@contextmanager
def kube_session(access: ClusterAccess) -> Iterator[KubeSession]:
    with api_client(access) as api:
        yield KubeSession(api, access)
