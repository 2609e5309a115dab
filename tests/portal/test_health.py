import pytest


@pytest.mark.django_db
def test_healthz_reports_each_dependency(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert set(body) >= {"database", "queue", "search", "storage", "ok"}


HEALTHZ_IN_A_FRESH_PROCESS = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/healthz")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def _healthz_with(env_changes: dict[str, str]) -> dict:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", **env_changes}
    result = subprocess.run(
        [sys.executable, "-c", HEALTHZ_IN_A_FRESH_PROCESS],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_healthz_answers_503_when_the_database_is_down(tmp_path):
    # Port 1 on loopback: nothing listens, so every connection is refused at once.
    report = _healthz_with(
        {
            "DATABASE_URL": "postgres://nobody:nothing@127.0.0.1:1/none",
            "PORTAL_DATA_DIR": str(tmp_path),
        }
    )

    assert report["status"] == 503
    assert report["body"]["database"]["ok"] is False
    assert report["body"]["ok"] is False


def test_healthz_reports_a_down_queue_and_search_but_stays_up(tmp_path):
    report = _healthz_with(
        {
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "ELASTICSEARCH_URL": "http://127.0.0.1:1",
            "PORTAL_DATA_DIR": str(tmp_path),
        }
    )

    assert report["status"] == 200
    assert report["body"]["queue"]["ok"] is False
    assert report["body"]["search"]["ok"] is False
    assert report["body"]["ok"] is False
