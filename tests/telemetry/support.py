"""Exporters for the metrics tests: real prometheus_client exporters, and hostile
ones (hanging, dripping, garbage, a 100 MB body) on loopback ports of their own."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


@contextmanager
def exporter(registry: CollectorRegistry) -> Iterator[int]:
    """Serve ``registry`` as prometheus_client does in an app; yields the port."""
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield int(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def requests_registry(*, served: int = 3, extra_gauge: str = "") -> CollectorRegistry:
    """An exporter's registry: a counter ``requests`` by code, and a gauge."""
    registry = CollectorRegistry()
    counter = Counter("requests", "Requests served.", ["code"], registry=registry)
    counter.labels(code="200").inc(served)
    counter.labels(code="500").inc(1)
    gauge = Gauge(extra_gauge or "queue_depth", "Items waiting.", registry=registry)
    gauge.set(7)
    return registry


class _Handler(socketserver.BaseRequestHandler):
    server: HostileServer

    def handle(self) -> None:
        self.request.settimeout(30)
        try:
            self.request.recv(65536)  # the request; its content does not matter
            getattr(self, f"_{self.server.mode}")()
        except OSError:
            pass  # the scraper hung up, as it should

    def _hang(self) -> None:
        self.server.stop.wait(60)

    def _drip(self) -> None:
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        while not self.server.stop.is_set():
            self.request.sendall(b"#")
            time.sleep(0.5)

    def _slow_headers(self) -> None:
        # Each byte arrives well within a socket timeout; the whole never does.
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
            if self.server.stop.is_set():
                return
            self.request.sendall(bytes([byte]))
            time.sleep(0.2)

    def _answer(self, body: bytes) -> None:
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    def _fill(self, size: int) -> None:
        """Valid samples until ``size`` bytes are sent or the test ends."""
        line = b"filler_total 1\n" * 4096
        sent = 0
        while sent < size and not self.server.stop.is_set():
            self.request.sendall(line)
            sent += len(line)
        self.server.huge_sent = sent

    def _garbage(self) -> None:
        self._answer(b"<html><body>This is not an exporter {{{ }}}</body></html>\n")

    def _binary(self) -> None:
        self._answer(bytes(range(256)) * 64)  # not UTF-8: no parser sees it

    def _huge_declared(self) -> None:
        # Says 100 MB up front, then sends them: refused on the header alone.
        size = 100 * 1024**2
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(size).encode()
            + b"\r\n\r\n"
        )
        self._fill(size)

    def _huge(self) -> None:
        # 100 MB of valid samples and no Content-Length: only reading tells the size.
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        self._fill(100 * 1024**2)

    def _error(self) -> None:
        self.request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")


class HostileServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.stop = threading.Event()
        self.huge_sent = 0
        super().__init__(("127.0.0.1", 0), _Handler)


@contextmanager
def hostile(mode: str) -> Iterator[HostileServer]:
    server = HostileServer(mode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
