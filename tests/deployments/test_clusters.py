"""Registering Kubernetes clusters (SPEC section 9), against the real API server of
scripts/services.sh: what is refused and why, what is stored, what a check records.

The test server listens on 127.0.0.1, so every cluster that should reach it is added
with allow_private_network; the guard's refusals are tested without it."""

from __future__ import annotations

import logging
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from deployments.models import Cluster
from deployments.services.clusters import (
    cluster_add,
    cluster_check,
)
from portal.actors import Actor
from portal.crypto import decrypt_json, encrypt_json
from portal.models import AuditEvent
from portal.services.errors import AlreadyExists, Invalid
from tests.deployments.kube_support import KubeServer, other_ca_pem

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def add(kube: KubeServer, name: str = "prod", **overrides: Any) -> Cluster:
    arguments: dict[str, Any] = {
        "actor": Actor.system(),
        "name": name,
        "server": kube.url,
        "token": kube.token,
        "ca_cert": kube.ca_cert,
        "allow_private_network": True,
    }
    arguments.update(overrides)
    return cluster_add(**arguments)


def refusal(kube: KubeServer, **overrides: Any) -> str:
    with pytest.raises(Invalid) as refused:
        add(kube, **overrides)
    assert not Cluster.objects.exists()
    assert not AuditEvent.objects.exists()
    return refused.value.message


# --- added ------------------------------------------------------------------------


def test_a_cluster_is_added_with_its_version_and_the_token_encrypted(kube):
    cluster = add(kube, description="the production cluster")

    stored = Cluster.objects.get(name="prod")
    assert (stored.server, stored.version, stored.reachable, stored.state) == (
        kube.url,
        "v1.34.2",
        True,
        "reachable",
    )
    assert stored.checked_at is not None and stored.last_error == ""
    assert kube.token not in stored.token_encrypted
    assert decrypt_json(stored.token_encrypted) == kube.token
    event = AuditEvent.objects.get()
    assert (event.action, event.target_id) == ("cluster.add", str(cluster.pk))
    assert event.detail["version"] == "v1.34.2" and event.detail["as_user"] == "admin"
    assert kube.token not in str(event.detail)


def test_a_cluster_may_skip_tls_verification_when_asked_explicitly(kube):
    cluster = add(kube, ca_cert="", insecure_skip_tls_verify=True)
    assert cluster.insecure_skip_tls_verify and cluster.ca_cert == ""
    assert cluster.version == "v1.34.2"


def test_a_second_cluster_of_the_same_name_is_refused(kube):
    add(kube)
    with pytest.raises(AlreadyExists, match="already exists"):
        add(kube)
    assert Cluster.objects.count() == 1


# --- refused, with the reason ------------------------------------------------------


def test_a_token_without_rights_is_refused_naming_its_user_and_the_missing_rights(kube):
    message = refusal(kube, token=kube.limited_token)

    assert message.startswith("Cluster 'prod' refused: the token's user 'limited' may not ")
    for right in (
        "create namespaces",
        "create objects in namespaces",
        "patch objects in namespaces",
        "delete objects in namespaces",
    ):
        assert right in message
    assert kube.limited_token not in message


def test_a_token_the_server_does_not_know_is_refused(kube):
    message = refusal(kube, token="not-a-token-of-this-cluster")
    assert "the API server refused the token" in message and "401" in message
    assert "not-a-token-of-this-cluster" not in message


def test_a_server_whose_certificate_the_given_ca_did_not_sign_is_refused(kube):
    message = refusal(kube, ca_cert=other_ca_pem())
    assert "certificate verify failed" in message
    assert "is not trusted by the CA given" in message


def test_an_unreachable_server_is_refused(kube):
    message = refusal(kube, server="https://127.0.0.1:1")
    assert message == "Cluster 'prod' refused: cannot connect to 127.0.0.1:1: Connection refused"


def test_a_loopback_server_is_refused_by_the_network_guard_without_the_flag(kube):
    message = refusal(kube, allow_private_network=False)
    assert message == (
        "Cluster 'prod' refused: refusing to connect to 127.0.0.1: 127.0.0.1 is a loopback "
        "address; a cluster inside your network needs the allow flag"
    )


def test_the_cloud_metadata_address_is_refused_even_with_the_flag(kube):
    message = refusal(kube, server="https://169.254.169.254")
    assert "169.254.169.254 is a cloud metadata endpoint" in message


def test_a_server_that_is_not_an_api_server_is_refused(kube):
    message = refusal(kube, server=f"{kube.url}/not-here")
    assert "GET /version: 404" in message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": "Prod_1"}, "Cluster name 'Prod_1'"),
        ({"server": "http://127.0.0.1:56443"}, "must start with https://"),
        ({"server": "https://user:pw@127.0.0.1:56443"}, "not in the server URL"),
        ({"server": "https://127.0.0.1:56443/?x=1"}, "query"),
        ({"server": "https://127.0.0.1:99999"}, "invalid port"),
        ({"server": "https://[::1"}, "not a URL"),
        ({"server": "https://a..b"}, "not a valid host name"),
        ({"server": "https://exa mple.org"}, "spaces"),
        ({"ca_cert": ""}, "CA certificate (PEM), or skip TLS verification explicitly"),
        ({"insecure_skip_tls_verify": True}, "not both"),
        ({"ca_cert": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, "not a PEM"),
        ({"token": "  "}, "needs a token"),
        ({"token": "abc\r\nX-Injected: 1"}, "visible ASCII"),
        ({"token": "x" * 20000}, "longer than"),
    ],
)
def test_bad_input_is_refused_before_calling_the_server(kube, overrides, expected):
    message = refusal(kube, **overrides)
    assert expected in message
    assert "X-Injected" not in message


# --- the periodic check -------------------------------------------------------------


def test_a_check_records_an_unreachable_server_and_keeps_the_last_version(kube):
    cluster = add(kube)
    first_check = cluster.checked_at
    Cluster.objects.filter(pk=cluster.pk).update(server="https://127.0.0.1:1")

    checked = cluster_check(cluster_id=cluster.pk)

    assert checked is not None
    assert (checked.reachable, checked.state, checked.version) == (False, "unreachable", "v1.34.2")
    assert "Connection refused" in checked.last_error
    assert checked.checked_at is not None and first_check is not None
    assert checked.checked_at > first_check

    Cluster.objects.filter(pk=cluster.pk).update(server=kube.url)
    again = cluster_check(cluster_id=cluster.pk)
    assert again is not None
    assert (again.reachable, again.state, again.last_error) == (True, "reachable", "")


def test_a_check_records_rights_lost_since_the_add(kube):
    cluster = add(kube)
    # As if the cluster's admins revoked the binding: the stored token is now one
    # without rights.
    Cluster.objects.filter(pk=cluster.pk).update(token_encrypted=encrypt_json(kube.limited_token))

    checked = cluster_check(cluster_id=cluster.pk)

    assert checked is not None
    assert (checked.reachable, checked.state) == (True, "degraded")
    assert "'limited' may not create namespaces" in checked.last_error


def test_the_beat_task_queues_a_check_of_every_cluster(
    kube, eager_tasks, django_capture_on_commit_callbacks
):
    from deployments.tasks import clusters_check_task

    prod = add(kube, "prod")
    add(kube, "staging")
    Cluster.objects.filter(pk=prod.pk).update(server="https://127.0.0.1:1")

    with django_capture_on_commit_callbacks(execute=True) as queued:
        clusters_check_task.delay()

    assert len(queued) == 2
    states = {cluster.name: cluster.state for cluster in Cluster.objects.all()}
    assert states == {"prod": "unreachable", "staging": "reachable"}


def test_a_check_of_a_removed_cluster_does_nothing(kube):
    assert cluster_check(cluster_id=987654) is None


# --- the command line ---------------------------------------------------------------


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_cluster_add_command_adds_and_cluster_list_shows_it(kube, tmp_path, monkeypatch):
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(kube.ca_cert)
    monkeypatch.setenv("PROD_TOKEN", kube.token)

    out, _ = run(
        "cluster_add",
        "prod",
        "--server",
        kube.url,
        "--ca-file",
        str(ca_file),
        "--token-env",
        "PROD_TOKEN",
        "--allow-private-network",
    )

    assert out == "added cluster prod: Kubernetes v1.34.2\n"
    assert AuditEvent.objects.get().via == "cli"
    listing, _ = run("cluster_list", "--check")
    assert listing.splitlines()[0].split() == ["NAME", "STATE", "VERSION", "CHECKED", "SERVER"]
    assert listing.splitlines()[1].split()[:3] == ["prod", "reachable", "v1.34.2"]
    assert kube.url in listing and kube.token not in listing


def test_cluster_add_command_exits_1_with_the_reason(kube, monkeypatch):
    monkeypatch.setenv("PROD_TOKEN", kube.token)
    with pytest.raises(CommandError) as refused:
        run(
            "cluster_add",
            "prod",
            "--server",
            kube.url,
            "--insecure-skip-tls-verify",
            "--token-env",
            "PROD_TOKEN",
        )
    assert refused.value.returncode == 1
    assert "a cluster inside your network needs the allow flag (--allow-private-network)" in str(
        refused.value
    )
    assert not Cluster.objects.exists()


def test_cluster_add_command_needs_the_token_variable_set(kube, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    with pytest.raises(CommandError, match="NO_SUCH_TOKEN is not set") as refused:
        run(
            "cluster_add",
            "prod",
            "--server",
            kube.url,
            "--insecure-skip-tls-verify",
            "--token-env",
            "NO_SUCH_TOKEN",
        )
    assert refused.value.returncode == 1


# --- the token never leaks ------------------------------------------------------------


def test_the_token_appears_in_no_log_line(kube, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    cluster = add(kube)
    Cluster.objects.filter(pk=cluster.pk).update(server="https://127.0.0.1:1")
    cluster_check(cluster_id=cluster.pk)
    with pytest.raises(Invalid):
        add(kube, name="limited", token=kube.limited_token)

    captured = capsys.readouterr()
    assert "cluster prod: cannot connect" in caplog.text  # the check did log
    for secret in (kube.token, kube.limited_token):
        assert secret not in caplog.text
        assert secret not in captured.out + captured.err
