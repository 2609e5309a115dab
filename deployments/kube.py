"""Talking to a Kubernetes API server: one guarded client, and the probe that decides
whether a cluster can be used.

Every connection passes the market network guard (market.netguard): the server URL
comes from staff, but the portal must still not be pointed at the cloud metadata
endpoint, and reaches loopback and private addresses only for a cluster added with
``allow_private_network``. The guard sits in the connection itself (each connect
resolves and checks again), so a name that resolves elsewhere later is refused too.

The token goes only into the Authorization header. No message this module makes
quotes it: errors are worded here from status codes and the server's own message,
and the token is cut out of anything a server echoes back, in case it does.
"""

from __future__ import annotations

import json
import ssl
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import urllib3
from django.conf import settings
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from market.netguard import check_url, guarded_pool_classes
from market.storage.base import StorageError, UnsafeLocation

T = TypeVar("T")


class ClusterUnusable(Exception):
    """The cluster cannot be used as given; the message is one line for staff."""


class ClusterUnreachable(ClusterUnusable):
    """No answer from the API server (refused, timed out, TLS failed, guard)."""


@dataclass(frozen=True)
class ClusterAccess:
    """How to reach one API server. ``token`` is the plain token: keep this object
    out of logs and task arguments (pass the cluster's id and decrypt there)."""

    server: str
    token: str
    ca_cert: str = ""
    insecure_skip_tls_verify: bool = False
    allow_private_network: bool = False

    def __repr__(self) -> str:  # never the token, whatever prints this
        return f"ClusterAccess(server={self.server!r})"


@dataclass(frozen=True)
class Probe:
    version: str
    username: str  # who the token authenticates as ("" if the server does not say)


# What the portal does in a cluster (SPEC section 9): create a missing namespace, and
# create (server-side apply), patch and delete every kind of object a package brings,
# in any namespace. Checked with SelfSubjectAccessReview, which every authenticated
# user may ask (the system:basic-user role).
REQUIRED_ACCESS: tuple[tuple[str, str, str, bool], ...] = (
    # (verb, api group, resource, in every namespace rather than cluster-scoped)
    ("create", "", "namespaces", False),
    ("create", "*", "*", True),
    ("patch", "*", "*", True),
    ("delete", "*", "*", True),
)


@contextmanager
def api_client(access: ClusterAccess) -> Iterator[client.ApiClient]:
    """A kubernetes ApiClient whose every connection is guarded, that trusts exactly
    ``access.ca_cert`` (never the system store: a cluster's CA is its own), follows
    no redirect and does not retry. Closed on exit."""
    configuration = client.Configuration()
    configuration.host = access.server.rstrip("/")
    configuration.verify_ssl = not access.insecure_skip_tls_verify
    # No proxy: the guard would judge the proxy's address, not the cluster's.
    configuration.proxy = None
    api = client.ApiClient(configuration)
    api.user_agent = "ops-market"
    # A default header rather than Configuration.api_key, whose key name changed
    # between client releases (a token under the old name went out without "Bearer"
    # and the server took the request as anonymous).
    api.set_default_header("Authorization", f"Bearer {access.token}")
    # The generated client takes its CA from a file; build the pool manager here so
    # the PEM stays in memory, and put the guard under it.
    api.rest_client.pool_manager.clear()
    pool_manager = urllib3.PoolManager(
        num_pools=2,
        maxsize=4,
        cert_reqs=ssl.CERT_NONE if access.insecure_skip_tls_verify else ssl.CERT_REQUIRED,
        ca_cert_data=None if access.insecure_skip_tls_verify else access.ca_cert,
        retries=False,
    )
    pool_manager.pool_classes_by_scheme = guarded_pool_classes(
        HTTPConnectionPool, HTTPSConnectionPool, access.allow_private_network
    )
    api.rest_client.pool_manager = pool_manager
    try:
        with warnings.catch_warnings():
            # Staff asked for no verification explicitly; a warning per request says
            # nothing new.
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            yield api
    finally:
        api.close()


def _timeout() -> tuple[float, float]:
    seconds = float(settings.CLUSTER_TIMEOUT_SECONDS)
    return (seconds, seconds)


def cluster_probe(access: ClusterAccess) -> Probe:
    """Check that ``access`` reaches a Kubernetes API server the portal can work in.

    1. the URL passes the network guard (https only);
    2. ``GET /version`` answers a version (TLS verified against the CA given);
    3. the token is accepted (SelfSubjectReview names its user, where served);
    4. SelfSubjectAccessReviews grant every right in REQUIRED_ACCESS.

    Raises ClusterUnreachable for 1-2 and ClusterUnusable for 3-4, each with one
    line that says why; returns the version and the user otherwise.
    """
    if not access.server.lower().startswith("https://"):
        raise ClusterUnusable("the server URL must start with https://")
    try:
        check_url(access.server, allow_private=access.allow_private_network, what="a cluster")
    except UnsafeLocation as exc:
        raise ClusterUnreachable(str(exc)) from None
    except StorageError as exc:  # the name does not resolve
        raise ClusterUnreachable(str(exc)) from None
    except UnicodeError:  # the resolver's IDNA codec: an empty or overlong label
        raise ClusterUnreachable("the server URL's host is not a valid host name") from None
    with api_client(access) as api:
        version = _version(api, access)
        username = _username(api, access)
        missing = _missing_access(api, access)
    if missing:
        who = f"the token's user {username!r}" if username else "the token"
        raise ClusterUnusable(
            f"{who} may not {_join(missing)}; the portal needs these rights "
            "(for example the cluster-admin role)"
        )
    return Probe(version=version, username=username)


def _call(
    what: str, access: ClusterAccess, request: Callable[[], T], *, absent_ok: bool = False
) -> T | None:
    """Run one request; raise ClusterUnusable for an HTTP error answer (None for a 404
    with ``absent_ok``) and ClusterUnreachable for no answer, each worded for staff."""
    try:
        return request()
    except ApiException as exc:
        if not exc.status:  # the client's wrapping of a transport error
            raise ClusterUnreachable(connection_error(exc, access)) from None
        if absent_ok and exc.status == 404:
            return None
        raise ClusterUnusable(_api_error(what, exc, access)) from None
    except ValueError:
        # The client could not read the answer as the object it asked for.
        raise ClusterUnusable(f"{what} did not answer as a Kubernetes API server does") from None
    except Exception as exc:
        raise ClusterUnreachable(connection_error(exc, access)) from None


def _version(api: client.ApiClient, access: ClusterAccess) -> str:
    info = _call(
        "GET /version", access, lambda: client.VersionApi(api).get_code(_request_timeout=_timeout())
    )
    version = str(getattr(info, "git_version", "") or "")
    if not version:
        raise ClusterUnusable("GET /version did not answer a Kubernetes version")
    return version[:64]


def _username(api: client.ApiClient, access: ClusterAccess) -> str:
    body = client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1")
    # Before Kubernetes 1.28 (404) nothing says who a token is; the rights say enough.
    review = _call(
        "the token check",
        access,
        lambda: client.AuthenticationV1Api(api).create_self_subject_review(
            body, _request_timeout=_timeout()
        ),
        absent_ok=True,
    )
    user_info = getattr(getattr(review, "status", None), "user_info", None)
    return str(getattr(user_info, "username", "") or "")[:150]


def _missing_access(api: client.ApiClient, access: ClusterAccess) -> list[str]:
    authorization = client.AuthorizationV1Api(api)
    missing: list[str] = []
    for verb, group, resource, namespaced in REQUIRED_ACCESS:
        review = client.V1SelfSubjectAccessReview(
            api_version="authorization.k8s.io/v1",
            kind="SelfSubjectAccessReview",
            spec=client.V1SelfSubjectAccessReviewSpec(
                # namespace "" with a namespaced resource: in every namespace.
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, group=group, resource=resource, namespace=""
                )
            ),
        )
        answer = _call(
            "the access check",
            access,
            lambda review=review: authorization.create_self_subject_access_review(  # type: ignore[misc]
                review, _request_timeout=_timeout()
            ),
        )
        if not getattr(getattr(answer, "status", None), "allowed", False):
            what = "objects in namespaces" if namespaced else resource
            missing.append(f"{verb} {what}")
    return missing


def _join(missing: list[str]) -> str:
    return missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " or " + missing[-1]


def server_message(exc: ApiException) -> str:
    """The ``message`` of the Status object an API server answers an error with, or ""."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return ""
    return str(body.get("message") or "") if isinstance(body, dict) else ""


def _api_error(what: str, exc: ApiException, access: ClusterAccess) -> str:
    if exc.status == 401:
        return f"the API server refused the token ({what}: 401 Unauthorized)"
    message = server_message(exc)
    text = f"{what}: {exc.status} {exc.reason or ''}".rstrip()
    return clean_message(f"{text} ({message})" if message else text, access)


def _transport_cause(exc: BaseException) -> BaseException:
    """The transport error behind ``exc``. The generated client wraps an SSL error
    in an ApiException of status 0 (and, in some releases, fails decoding its empty
    body with an AttributeError), so the chain is walked, not just the exception."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, urllib3.exceptions.MaxRetryError) and current.reason is not None:
            current = current.reason
            continue
        if isinstance(current, UnsafeLocation | urllib3.exceptions.HTTPError | OSError):
            return current
        current = current.__cause__ or current.__context__
    return exc


def connection_error(exc: Exception, access: ClusterAccess) -> str:
    """One line for a request that got no HTTP answer, from the innermost cause."""
    cause = _transport_cause(exc)
    if isinstance(cause, UnsafeLocation):
        return str(cause)
    host = access.server.split("://", 1)[-1].split("/", 1)[0]
    if isinstance(cause, urllib3.exceptions.SSLError | ssl.SSLError):
        detail = str(cause)
        if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
            return (
                f"TLS: the certificate of {host} is not trusted by the CA given "
                "(certificate verify failed)"
            )
        if "WRONG_VERSION_NUMBER" in detail:
            return f"{host} does not answer TLS (is it an https:// API server?)"
        return clean_message(f"TLS handshake with {host} failed: {detail}", access)
    # Before the timeouts: urllib3's NewConnectionError is a ConnectTimeoutError.
    if isinstance(cause, urllib3.exceptions.NameResolutionError):
        return f"cannot resolve {host}"
    if isinstance(cause, urllib3.exceptions.NewConnectionError | ConnectionError):
        reason = str(cause).rsplit("] ", 1)[-1] if "]" in str(cause) else str(cause)
        return clean_message(f"cannot connect to {host}: {reason}", access)
    if isinstance(
        cause, urllib3.exceptions.ConnectTimeoutError | urllib3.exceptions.ReadTimeoutError
    ):
        return f"{host} did not answer within {settings.CLUSTER_TIMEOUT_SECONDS}s"
    if isinstance(cause, urllib3.exceptions.ProtocolError):
        return f"{host} closed the connection (is it an HTTPS server?)"
    return clean_message(f"cannot reach {host}: {type(cause).__name__}: {cause}", access)


def clean_message(text: str, access: ClusterAccess) -> str:
    """One line, at most 500 characters, without the token."""
    text = " ".join(text.split())
    if access.token:
        text = text.replace(access.token, "[token]")
    return text[:500]
