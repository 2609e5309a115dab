"""The markets pages: everyone sees which markets feed the catalogue; staff see
where they live, add them and ask for syncs. Secrets never come back out."""

from __future__ import annotations

import re

import pytest

from market.models import Market, SyncJob
from market.services.markets import market_init
from portal.crypto import decrypt_json
from portal.models import AuditEvent
from tests.factories import make_team
from tests.market.catalogue_factories import make_app, make_market
from tests.market.storage_fixtures import drop_bucket, new_bucket, s3_credentials

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_log_in(client):
    for url in ("/market/markets/", "/market/markets/new/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_market_list_shows_state_counts_and_errors(client, user):
    main = make_market(
        "main", writable=True, is_private=True, serial=7, last_sync_error="TLS handshake failed"
    )
    make_app(main, "log-analyzer")
    make_app(main, "redis-ops")
    SyncJob.objects.create(market=main, state=SyncJob.State.FAILED)
    client.force_login(user)

    html = client.get("/market/markets/").content.decode()

    row = html.split('<tr data-market="main">', 1)[1].split("</tr>", 1)[0]
    assert 'href="/market/?market=main"' in row
    assert "writable" in row and "private" in row
    assert re.search(r'data-table__td--number">2</td>', row)
    assert re.search(r'data-table__td--number">7</td>', row)
    assert "TLS handshake failed" in row
    assert "sync failed" in row.lower()


def test_non_staff_see_neither_locations_nor_sync_buttons(client, user):
    make_market("main", location="s3://ops-bucket/markets/main")
    client.force_login(user)

    html = client.get("/market/markets/").content.decode()

    assert "ops-bucket" not in html
    assert "Sync now" not in html
    assert "Add a market" not in html


def test_staff_see_locations_without_credentials(client, staff_user):
    make_market("http", location="https://reader:hunter2@markets.example.org/ops?token=abc")
    make_market(
        "s3", location="s3://ops-bucket/main", endpoint_url="https://k:s@minio.example:9000"
    )
    client.force_login(staff_user)

    html = client.get("/market/markets/").content.decode()

    assert "<code>https://markets.example.org/ops</code>" in html
    assert "<code>s3://ops-bucket/main at https://minio.example:9000</code>" in html
    for secret in ("hunter2", "reader:", "token=abc", "k:s@"):
        assert secret not in html


def test_sync_now_is_staff_only_and_queues_a_job(client, user, staff_user):
    market = make_market("main")
    client.force_login(user)
    assert client.post("/market/markets/main/sync/").status_code == 403
    assert not SyncJob.objects.exists()

    client.force_login(staff_user)
    response = client.post("/market/markets/main/sync/", follow=True)

    job = SyncJob.objects.get(market=market)
    assert job.state == SyncJob.State.QUEUED
    assert job.requested_by == staff_user.username
    assert f"Sync of main queued (job {job.pk})." in response.content.decode()
    assert client.post("/market/markets/nope/sync/").status_code == 404
    assert client.get("/market/markets/main/sync/").status_code == 405


def test_add_market_page_is_staff_only(client, user):
    client.force_login(user)
    assert client.get("/market/markets/new/").status_code == 403
    response = client.post("/market/markets/new/", {"name": "x", "location": "/tmp/x"})
    assert response.status_code == 403
    assert not Market.objects.exists()


def test_staff_add_a_local_market_with_publishers(client, staff_user, tmp_path):
    market_init(location=str(tmp_path / "ops"), name="ops")
    team = make_team("platform-sre")
    client.force_login(staff_user)

    response = client.post(
        "/market/markets/new/",
        {
            "name": "ops",
            "description": "Team ops market",
            "location": str(tmp_path / "ops"),
            "writable": "on",
            "publishers": [team.pk],
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/market/markets/"
    market = Market.objects.get(name="ops")
    assert market.writable and not market.is_private
    assert list(market.publishers.all()) == [team]
    assert SyncJob.objects.filter(market=market).count() == 1
    assert AuditEvent.objects.filter(action="market.add").count() == 1
    assert AuditEvent.objects.filter(action="market.publishers").count() == 1


def test_market_refusal_is_shown_next_to_the_location(client, staff_user, tmp_path):
    client.force_login(staff_user)

    response = client.post(
        "/market/markets/new/",
        {"name": "ops", "location": "ftp://example.org/market"},
    )

    html = response.content.decode()
    assert response.status_code == 400
    errors = html.split('id="id_location_error"', 1)[1].split("</ul>", 1)[0]
    assert "Unsupported market location scheme" in errors
    assert not Market.objects.exists()


def test_refused_submission_does_not_echo_the_keys(client, staff_user):
    client.force_login(staff_user)
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"

    refused = client.post(
        "/market/markets/new/",
        {
            "name": "ops",
            "location": "/local/path",
            "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": secret,
        },
    )

    html = refused.content.decode()
    assert refused.status_code == 400
    assert "A local market takes no credentials" in html
    assert secret not in html
    assert "AKIAEXAMPLE" not in html


def test_s3_market_keys_are_stored_encrypted_and_never_shown(client, staff_user, moto_endpoint):
    credentials = s3_credentials()
    bucket = new_bucket(moto_endpoint)
    location = f"s3://{bucket}/markets/ops"
    market_init(
        location=location,
        name="ops",
        endpoint_url=moto_endpoint,
        credentials=credentials,
        allow_private_network=True,
    )
    client.force_login(staff_user)

    response = client.post(
        "/market/markets/new/",
        {
            "name": "ops",
            "location": location,
            "endpoint_url": moto_endpoint,
            "access_key_id": credentials["aws_access_key_id"],
            "secret_access_key": credentials["aws_secret_access_key"],
            "allow_private_network": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[-2000:]
    market = Market.objects.get(name="ops")
    secret = credentials["aws_secret_access_key"]
    assert f'"{secret}"' not in market.credentials_encrypted
    assert decrypt_json(market.credentials_encrypted) == credentials
    listing = client.get("/market/markets/").content.decode()
    assert f"<code>{location} at {moto_endpoint}</code>" in listing
    assert f'value="{secret}"' not in client.get("/market/markets/new/").content.decode()
    details = str(list(AuditEvent.objects.values_list("detail", flat=True)))
    assert f"'{secret}'" not in details
    drop_bucket(moto_endpoint, bucket)


def test_half_a_key_pair_is_refused(client, staff_user):
    client.force_login(staff_user)
    response = client.post(
        "/market/markets/new/",
        {"name": "ops", "location": "s3://b/p", "access_key_id": "AKIAEXAMPLE"},
    )
    assert response.status_code == 400
    assert "Give both the access key id and the secret" in response.content.decode()


@pytest.mark.django_db
def test_admin_console_add_market_leads_to_the_probing_form(client):
    from tests.factories import make_user

    client.force_login(make_user("console-admin", staff=True))

    response = client.get("/admin/market/market/add/")

    assert response.status_code == 302
    assert response["Location"] == "/market/markets/new/"
