"""`make run` (scripts/run.sh) serves no debug pages (issue 11, item 6).

The server runs with the environment run.sh gives it (scripts/run-env.sh) on a
fresh data folder: DEBUG off, a secret key of its own, loopback hosts, and no
TLS-only cookies, since the run command serves plain http on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# What run.sh unsets or sets itself, and what marks the test suite.
_CLEARED = (
    *("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "PORTAL_TESTING", "DJANGO_SETTINGS_MODULE"),
    *("DATABASE_URL", "REDIS_URL", "ELASTICSEARCH_URL", "S3_ENDPOINT_URL"),
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_run_env(data: Path, command: str) -> list[str]:
    # The same file run.sh sources; the command runs in the environment it exports.
    script = f'. "{REPO}/scripts/run-env.sh" && exec {command}'
    return ["bash", "-c", script]


@contextmanager
def _served(data: Path, *, settings_module: str = "") -> Iterator[str]:
    """Migrate, collect static files, make a user and run the server on `data` in the
    run command's environment; yields its URL."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env["PORTAL_DATA_DIR"] = str(data)
    if settings_module:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    py = sys.executable
    for step in ("migrate --noinput -v 0", "collectstatic --noinput -v 0"):
        subprocess.run(
            _with_run_env(data, f'"{py}" manage.py {step}'),
            cwd=REPO, env=env, check=True, timeout=300,
        )  # fmt: skip
    subprocess.run(
        _with_run_env(data, f'"{py}" manage.py shell -c "{_MAKE_USER}"'),
        cwd=REPO, env=env, check=True, timeout=120,
    )  # fmt: skip
    port = _free_port()
    server = subprocess.Popen(
        _with_run_env(data, f'"{py}" manage.py runserver 127.0.0.1:{port} --noreload'),
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        # By a deadline, not a count of tries: on a loaded machine (CI beside other
        # work) the server took longer than 100 quick tries, and the test then met
        # a refused connection instead of saying the server never came up.
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the portal's server did not come up") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _served(tmp_path_factory.mktemp("run-data")) as url:
        yield url


_MAKE_USER = (
    "from django.contrib.auth import get_user_model; "
    "get_user_model().objects.create_user('dora', password='a-long-enough-password')"
)


_LOGIN = {"username": "dora", "password": "a-long-enough-password"}


def _logged_in(portal: str) -> requests.Session:
    session = requests.Session()
    form = session.get(portal + "/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None
    session.post(
        portal + "/accounts/login/",
        data={**_LOGIN, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": portal + "/accounts/login/"},
        timeout=10,
    )
    return session


def test_an_unknown_page_is_a_plain_404_without_the_url_list(portal: str) -> None:
    response = requests.get(portal + "/no-such-page/", timeout=10)

    assert response.status_code == 404
    assert "URLconf" not in response.text and "admin/" not in response.text


def test_the_404_page_is_the_portals_own_with_its_styles(portal: str) -> None:
    response = _logged_in(portal).get(portal + "/market/no-such-market/no-such-app/", timeout=10)
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', response.text)

    assert response.status_code == 404
    assert "This page doesn" in response.text and "Search the portal" in response.text
    assert stylesheet and requests.get(portal + stylesheet[1], timeout=10).status_code == 200


@pytest.fixture(scope="module")
def portal_with_a_failing_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # The run command's settings plus one URL that raises (tests/portal/failing_urls.py).
    data = tmp_path_factory.mktemp("run-data-failing")
    with _served(data, settings_module="tests.portal.failing_settings") as url:
        yield url


def test_a_server_error_is_the_friendly_500_page_without_a_traceback(
    portal_with_a_failing_page: str,
) -> None:
    response = requests.get(portal_with_a_failing_page + "/failing/", timeout=10)
    stylesheet = re.search(r'<link rel="stylesheet" href="([^"]+)"', response.text)

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.text
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert stylesheet and requests.get(portal_with_a_failing_page + stylesheet[1], timeout=10).ok


def test_a_path_climbing_out_of_static_is_a_404(portal: str) -> None:
    host, port = portal.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/static/../x")  # raw: no client normalises it
    response = connection.getresponse()

    assert response.status == 404
    assert b"Traceback" not in response.read()


def test_static_files_and_logging_in_work_over_plain_http(portal: str) -> None:
    assert requests.get(portal + "/static/js/portal.js", timeout=10).status_code == 200
    session = requests.Session()
    form = session.get(portal + "/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert token is not None

    fields = {"username": "dora", "password": "a-long-enough-password"}
    response = session.post(
        portal + "/accounts/login/",
        data={**fields, "csrfmiddlewaretoken": token[1]},
        headers={"Referer": portal + "/accounts/login/"},
        timeout=10,
    )

    assert response.status_code == 200 and response.url == portal + "/"
