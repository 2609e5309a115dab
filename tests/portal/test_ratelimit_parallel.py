"""The failure limit holds under parallel attempts, on every cache backend, and a
valid token is never refused because of other clients' failures (issue 11, item 5).

The parallel cases run against a real threaded server (pytest-django's live_server),
with the embedded file cache and with the configured one (Redis in the services run).
"""

from __future__ import annotations

import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from django.test import override_settings

from portal.actors import client_ip
from tests.factories import PASSWORD, make_token, make_user

LIMIT = 10
ATTEMPTS = 60
THREADS = 30
# 127.0.0.1 is the live server's peer and the test client's REMOTE_ADDR.
PROXY = "127.0.0.1/32"


@pytest.fixture(params=["file", "configured"])
def cache_backend(request: Any, settings: Any, tmp_path: Path) -> str:
    """The embedded file cache, or whatever the run configures (Redis on the services)."""
    if request.param == "file":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    settings.AUTH_FAILURE_LIMIT = LIMIT
    return str(request.param)


def _parallel(call: Any) -> Counter[int]:
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return Counter(pool.map(lambda _: call(), range(ATTEMPTS)))


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_logins_check_at_most_the_limit_of_passwords(
    live_server: Any, cache_backend: str
) -> None:
    make_user("alice")
    url = f"{live_server.url}/accounts/login/"
    first = requests.get(url, timeout=10)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', first.text)
    assert csrf is not None

    def wrong_login() -> int:
        response = requests.post(
            url,
            data={"username": "alice", "password": "nope", "csrfmiddlewaretoken": csrf[1]},
            cookies=first.cookies,
            headers={"Referer": url},
            timeout=30,
        )
        return response.status_code

    statuses = _parallel(wrong_login)

    # 200 is the form again with "wrong password": a password that was checked.
    assert statuses == {200: LIMIT, 429: ATTEMPTS - LIMIT}


@pytest.mark.django_db(transaction=True)
def test_parallel_bad_tokens_fail_exactly_the_limit_then_429(
    live_server: Any, cache_backend: str
) -> None:
    good = make_token(make_user("alice"))
    url = f"{live_server.url}/api/v1/teams/"

    def bad_token() -> int:
        headers = {"Authorization": "Bearer omk_wrong"}
        return requests.get(url, headers=headers, timeout=30).status_code

    statuses = _parallel(bad_token)

    assert statuses == {401: LIMIT, 429: ATTEMPTS - LIMIT}
    # The address is over the limit, yet a valid token from it still works.
    ok = requests.get(url, headers={"Authorization": f"Bearer {good}"}, timeout=10)
    assert ok.status_code == 200, ok.text


@pytest.mark.django_db
@override_settings(AUTH_FAILURE_LIMIT=3)
def test_valid_token_works_from_an_address_over_the_limit(api_client: Any, user: Any) -> None:
    good = make_token(user)
    api_client.credentials(HTTP_AUTHORIZATION="Bearer omk_wrong")
    statuses = [api_client.get("/api/v1/teams/").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")
    assert api_client.get("/api/v1/teams/").status_code == 200


@pytest.mark.django_db
@override_settings(AUTH_FAILURE_LIMIT=3)
def test_private_market_file_accepts_a_valid_token_over_the_limit(
    client: Any, user: Any, tmp_path: Path, settings: Any
) -> None:
    from tests.market.helpers import local_market

    market = local_market(tmp_path, "private")
    market.is_private = True
    market.save()
    good = make_token(user)
    url = "/markets/private/market.json"
    bad = [client.get(url, HTTP_AUTHORIZATION="Bearer omk_wrong").status_code for _ in range(4)]
    assert bad == [401, 401, 401, 429]

    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200


@pytest.mark.django_db
@override_settings(AUTH_FAILURE_LIMIT=3, TRUSTED_PROXIES=[PROXY])
def test_behind_a_trusted_proxy_failures_count_per_forwarded_client(api_client: Any) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer omk_wrong")
    attacker = {"HTTP_X_FORWARDED_FOR": "198.51.100.7, 203.0.113.5"}
    statuses = [api_client.get("/api/v1/teams/", **attacker).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]

    # Another client through the same proxy is not locked out by the first one.
    other = {"HTTP_X_FORWARDED_FOR": "203.0.113.6"}
    assert api_client.get("/api/v1/teams/", **other).status_code == 401


@pytest.mark.django_db
@override_settings(AUTH_FAILURE_LIMIT=3, TRUSTED_PROXIES=[])
def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(api_client: Any) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Bearer omk_wrong")
    statuses = [
        api_client.get("/api/v1/teams/", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", "", "127.0.0.1"),  # no header: the peer
        ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
        # Right to left: the proxy appended the real client last; what a client
        # wrote itself further left is not believed.
        ("127.0.0.1", "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        # A chain of trusted proxies is skipped.
        ("127.0.0.1", "203.0.113.5, 127.0.0.1", "203.0.113.5"),
        # Garbage where an address should be: the last trusted hop answers for it.
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
        # An untrusted peer's header is ignored.
        ("192.0.2.1", "203.0.113.5", "192.0.2.1"),
    ],
)
def test_client_ip_reads_forwarded_for_right_to_left_from_trusted_proxies(
    rf: Any, settings: Any, peer: str, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXIES = [PROXY]
    request = rf.get("/", REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_good_login_is_not_counted_as_a_failure(client: Any, db: None, settings: Any) -> None:
    settings.AUTH_FAILURE_LIMIT = 2
    make_user("alice")
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        assert response.status_code == 302
        client.post("/accounts/logout/")
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
