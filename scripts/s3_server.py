"""Moto's S3 server with conditional writes decided atomically.

moto checks If-Match / If-None-Match and then stores the object without one
lock across both, so two concurrent conditional PUTs can both succeed; AWS S3
decides them atomically. Running moto's own WSGI app with every request under
one lock gives the S3 semantics the market's compare-and-swap relies on. The
server still accepts connections on many threads; only request handling is
serialised, which is plenty for a test endpoint.

Usage: python scripts/s3_server.py [-H 127.0.0.1] [-p 55000]
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

_lock = threading.Lock()


class SerialisedApp:
    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with _lock:
            # Consume the body inside the lock: a streamed response would
            # otherwise finish outside it.
            return list(self.app(environ, start_response))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=55000)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, SerialisedApp(app), threaded=True)


if __name__ == "__main__":
    main()
