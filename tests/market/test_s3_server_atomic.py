"""The test suite's S3 endpoint (scripts/s3_server.py) decides conditional writes
atomically, as AWS S3 does — plain moto does not (see test_storage_s3.py)."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.market.storage_fixtures import new_bucket
from tests.market.test_storage_s3 import _race, _s3

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "s3_server.py"


def _load_script() -> Any:
    spec = importlib.util.spec_from_file_location("s3_server", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def serialised_moto_with_slow_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.s3.models import S3Backend

    real_put = S3Backend.put_object

    def slow_put(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        if "race/" in key_name:
            time.sleep(0.3)  # widens the check-then-store window moto has
        return real_put(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", slow_put)
    app = _load_script().SerialisedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_concurrent_create_only_writes_have_one_winner(serialised_moto_with_slow_store: str):
    from market.storage.retry import NO_RETRY

    endpoint = serialised_moto_with_slow_store
    bucket = new_bucket(endpoint)
    first = _s3(endpoint, bucket, retry=NO_RETRY)
    second = _s3(endpoint, bucket, retry=NO_RETRY)

    outcomes = _race(
        lambda: first.put_new("race/x-1.0.0.tgz", b"one"),
        lambda: second.put_new("race/x-1.0.0.tgz", b"two"),
    )

    assert sorted(outcomes) == ["AlreadyExists", "written"]


def test_concurrent_if_match_writes_have_one_winner(serialised_moto_with_slow_store: str):
    from market.storage.retry import NO_RETRY

    endpoint = serialised_moto_with_slow_store
    bucket = new_bucket(endpoint)
    first = _s3(endpoint, bucket, retry=NO_RETRY)
    second = _s3(endpoint, bucket, retry=NO_RETRY)
    etag = first.put_new("race/index.json", b"v1")

    outcomes = _race(
        lambda: first.put_if_match("race/index.json", b"from first", etag),
        lambda: second.put_if_match("race/index.json", b"from second", etag),
    )

    assert sorted(outcomes) == ["PreconditionFailed", "written"]
