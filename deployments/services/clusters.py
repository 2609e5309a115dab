"""Kubernetes clusters (SPEC section 9): registered by staff, checked at add and then
periodically.

A cluster is only stored once the portal has talked to it: the URL passed the
network guard, ``/version`` answered over TLS verified against the CA given (or
staff said explicitly not to verify), and the token holds the rights the portal
needs. Anything else is refused with the reason, and nothing is written.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from cryptography import x509
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.kube import ClusterAccess, ClusterUnreachable, ClusterUnusable, cluster_probe
from deployments.models import Cluster
from guards.slugs import validate_slug
from portal.actors import Actor
from portal.crypto import DecryptionFailed, decrypt_json, encrypt_json
from portal.services.audit import audit_record
from portal.services.errors import AlreadyExists, Invalid

log = logging.getLogger(__name__)

MAX_CA_BYTES = 64 * 1024
# Service-account JWTs run to a few kilobytes; OIDC tokens with many groups further.
MAX_TOKEN_BYTES = 16 * 1024


class ClusterRefused(Invalid):
    """The API server was reached (or not) and does not do: the reason says why."""

    code = "cluster_refused"


def cluster_add(
    *,
    actor: Actor,
    name: str,
    server: str,
    token: str,
    ca_cert: str = "",
    insecure_skip_tls_verify: bool = False,
    allow_private_network: bool = False,
    description: str = "",
) -> Cluster:
    """Register a cluster.

    1. check the input: a slug name, an https server URL, a PEM CA or the explicit
       insecure flag (not both), a token of visible characters;
    2. probe the server (deployments.kube.cluster_probe): guard, /version, token,
       rights; refuse with its reason;
    3. store the row with the token encrypted and the probe's findings as the
       first check, and an audit record, in one transaction.
    """
    name = (name or "").strip()
    try:
        validate_slug(name)
    except ValidationError as exc:
        raise Invalid(f"Cluster name {name!r}: {exc.messages[0]}") from None
    access = ClusterAccess(
        server=server_check(server),
        token=token_check(token),
        ca_cert=ca_cert_check(ca_cert, insecure_skip_tls_verify=insecure_skip_tls_verify),
        insecure_skip_tls_verify=insecure_skip_tls_verify,
        allow_private_network=allow_private_network,
    )
    if Cluster.objects.filter(name=name).exists():
        raise AlreadyExists(f"A cluster named {name!r} already exists.")
    try:
        probe = cluster_probe(access)
    except ClusterUnusable as exc:
        raise ClusterRefused(f"Cluster {name!r} refused: {exc}") from None
    try:
        with transaction.atomic():
            cluster = Cluster.objects.create(
                name=name,
                server=access.server,
                ca_cert=access.ca_cert,
                insecure_skip_tls_verify=insecure_skip_tls_verify,
                token_encrypted=encrypt_json(access.token),
                allow_private_network=allow_private_network,
                description=(description or "").strip()[:200],
                reachable=True,
                version=probe.version,
                checked_at=timezone.now(),
                created_by=actor.label,
            )
            audit_record(
                actor=actor,
                action="cluster.add",
                target=cluster,
                detail={
                    "server": cluster.server,
                    "version": probe.version,
                    "as_user": probe.username,
                    "insecure_skip_tls_verify": insecure_skip_tls_verify,
                    "allow_private_network": allow_private_network,
                },
            )
    except IntegrityError:
        # Another request added the same name between the check above and here.
        raise AlreadyExists(f"A cluster named {name!r} already exists.") from None
    return cluster


def cluster_check(*, cluster_id: int) -> Cluster | None:
    """Probe a stored cluster again and record what was found: reachable or not, the
    version, and the error (unreachable, token refused, rights lost). The version
    of the last good check stays while the server is away. None when the cluster
    was removed meanwhile."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return None
    reachable: bool | None = True
    version, error = cluster.version, ""
    try:
        probe = cluster_probe(cluster_access(cluster))
        version = probe.version
    except DecryptionFailed as exc:
        # Says nothing about the server: keep what the last check found.
        reachable, error = cluster.reachable, f"the stored token: {exc}"
    except ClusterUnreachable as exc:
        reachable, error = False, str(exc)
    except ClusterUnusable as exc:
        error = str(exc)
    if error and not cluster.last_error:
        log.warning("cluster %s: %s", cluster.name, error)
    # One UPDATE of the check's own columns: a concurrent edit of anything else stays.
    Cluster.objects.filter(pk=cluster.pk).update(
        reachable=reachable, version=version, last_error=error[:500], checked_at=timezone.now()
    )
    cluster.refresh_from_db()
    return cluster


def clusters_check_all() -> int:
    """Queue one check per cluster (each bounded by its task's time limit, so one
    slow server does not hold up the others). Returns how many were queued."""
    from deployments.tasks import cluster_check_task
    from portal.queue import enqueue_on_commit

    ids = list(Cluster.objects.values_list("pk", flat=True))
    for cluster_id in ids:
        enqueue_on_commit(cluster_check_task, cluster_id)
    return len(ids)


def cluster_remove(*, actor: Actor, cluster: Cluster) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor, action="cluster.remove", target=cluster, detail={"server": cluster.server}
        )
        cluster.delete()


def cluster_access(cluster: Cluster) -> ClusterAccess:
    """How to reach a stored cluster, the token decrypted (DecryptionFailed when the
    key changed). For the portal's own calls only: never shown, logged or queued."""
    return ClusterAccess(
        server=cluster.server,
        token=str(decrypt_json(cluster.token_encrypted) or ""),
        ca_cert=cluster.ca_cert,
        insecure_skip_tls_verify=cluster.insecure_skip_tls_verify,
        allow_private_network=cluster.allow_private_network,
    )


# --- input rules ----------------------------------------------------------------


def server_check(server: str) -> str:
    """The API server URL, normalised (no trailing slash); Invalid unless it is a plain
    https URL. A path is kept (an API server behind a proxy such as Rancher's)."""
    server = (server or "").strip()
    if not server:
        raise Invalid("A cluster needs its API server URL (https://host:port).")
    if len(server) > 500:
        raise Invalid("The server URL is longer than 500 characters.")
    try:
        parts = urlsplit(server)
    except ValueError:  # an unclosed [IPv6 literal
        raise Invalid("The server URL is not a URL.") from None
    if parts.scheme.lower() != "https":
        raise Invalid(
            "The server URL must start with https:// (the token must not travel in clear)."
        )
    if parts.username is not None or parts.password is not None:
        raise Invalid("Give the token separately, not in the server URL.")
    if not parts.hostname:
        raise Invalid("The server URL has no host.")
    try:
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        raise Invalid("The server URL has an invalid port.") from None
    if parts.query or parts.fragment:
        raise Invalid("The server URL may not have a query or a fragment.")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in server):
        raise Invalid("The server URL may not contain spaces or control characters.")
    return server.rstrip("/")


def ca_cert_check(ca_cert: str, *, insecure_skip_tls_verify: bool) -> str:
    """The CA bundle (PEM, one or more certificates), or "" with the insecure flag;
    Invalid for neither, both, or something that is not a PEM certificate."""
    ca_cert = (ca_cert or "").strip()
    if insecure_skip_tls_verify:
        if ca_cert:
            raise Invalid("Give a CA certificate or skip TLS verification, not both.")
        return ""
    if not ca_cert:
        raise Invalid(
            "Give the cluster's CA certificate (PEM), or skip TLS verification explicitly."
        )
    if len(ca_cert.encode()) > MAX_CA_BYTES:
        raise Invalid(f"The CA certificate is larger than {MAX_CA_BYTES // 1024} KiB.")
    try:
        certificates = x509.load_pem_x509_certificates(ca_cert.encode())
    except ValueError:
        certificates = []
    if not certificates:
        raise Invalid("The CA certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----).")
    return ca_cert + "\n"


def token_check(token: str) -> str:
    """The bearer token, stripped; Invalid when empty, too long, or holding anything
    but visible ASCII (it goes into an HTTP header: no spaces, no line breaks)."""
    token = (token or "").strip()
    if not token:
        raise Invalid("A cluster needs a token to act with.")
    if len(token) > MAX_TOKEN_BYTES:
        raise Invalid(f"The token is longer than {MAX_TOKEN_BYTES} characters.")
    if any(not 0x21 <= ord(char) <= 0x7E for char in token):
        # Not quoting it: the message would show the secret.
        raise Invalid("The token may hold only visible ASCII characters (no spaces).")
    return token
