"""The real Kubernetes API server of scripts/services.sh, for the cluster tests.

``services.sh env`` names it (KUBE_API_URL, KUBE_CA_FILE, KUBE_TOKEN for an admin in
system:masters, KUBE_LIMITED_TOKEN for a user bound to nothing); without them the
tests that need it skip, like the search tests without Elasticsearch."""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class KubeServer:
    url: str
    ca_cert: str = field(repr=False)
    # Out of the repr: a failing test prints its fixtures.
    token: str = field(repr=False)
    limited_token: str = field(repr=False)


@pytest.fixture(scope="session")
def kube() -> KubeServer:
    names = ("KUBE_API_URL", "KUBE_CA_FILE", "KUBE_TOKEN", "KUBE_LIMITED_TOKEN")
    if not all(os.environ.get(name) for name in names):
        pytest.skip('no Kubernetes API server: eval "$(scripts/services.sh env)" after `up`')
    return KubeServer(
        url=os.environ["KUBE_API_URL"],
        ca_cert=Path(os.environ["KUBE_CA_FILE"]).read_text(),
        token=os.environ["KUBE_TOKEN"],
        limited_token=os.environ["KUBE_LIMITED_TOKEN"],
    )


def other_ca_pem() -> str:
    """A CA that signed nothing the test server presents."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some other CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
