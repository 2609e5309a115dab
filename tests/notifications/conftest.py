"""Real receivers for notification tests: an HTTP server thread that records each
webhook POST, and an aiosmtpd SMTP server that records each message."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.deployments.conftest import (  # noqa: F401  (fixtures used by these tests)
    apps_market,
    gitops_repo,
    namespace,
    operator,
)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("X-OpsMarket-Signature", ""))


@dataclass
class Receiver:
    port: int
    received: list[Received] = field(default_factory=list)
    status: int = 204
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/ops"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.received.append(Received(dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def allow_loopback_webhooks(settings: Any) -> None:
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE_NETWORK = True
    settings.PORTAL_BASE_URL = "https://portal.example.org"


@pytest.fixture
def receiver(allow_loopback_webhooks: None) -> Iterator[Receiver]:
    """A webhook receiver listening from the start."""
    found = Receiver(port=free_port())
    found.start()
    yield found
    found.stop()


@pytest.fixture
def down_receiver(allow_loopback_webhooks: None) -> Iterator[Receiver]:
    """A receiver whose port nothing listens on until the test calls start()."""
    found = Receiver(port=free_port())
    yield found
    found.stop()


class _Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@dataclass
class MailServer:
    handler: _Collect

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        return self.handler.messages


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on loopback, and Django's SMTP backend pointed at it
    (pytest-django puts the in-memory backend in place otherwise)."""
    handler = _Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.PORTAL_BASE_URL = "https://portal.example.org"
    try:
        yield MailServer(handler)
    finally:
        controller.stop()
