"""Soak: a running portal under a loop of installs, upgrades, uninstalls and syncs.

    PORT=8123 make run                      # in another terminal, a fresh data folder
    TOKEN=$(PORTAL_DATA_DIR=./var .venv/bin/python manage.py token_create admin \\
            --name soak | tail -n 1)
    .venv/bin/python scripts/soak.py --url http://127.0.0.1:8123 --token "$TOKEN" --minutes 30

Drives the REST API only, as an automation client would, in the demo namespace
(``sre-tools``, as the staff demo login, who may also sync): each round installs a
few demo apps, upgrades each, uninstalls them, and asks for a sync of every market;
``/healthz`` is polled all along.
At the end it waits for every operation it started and prints how many ended in each
state, how many never finished (a lost message or a dead worker would show here), and
how often the site did not answer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

ACTIVE = {"queued", "running"}


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - a URL given on the command line
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            text = response.read()
        return json.loads(text) if text else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--namespace", default="sre-tools")
    parser.add_argument("--apps", default="alert-router,cert-watcher,backup-scheduler")
    args = parser.parse_args()
    client = Client(args.url, args.token)
    catalogue = {app["name"]: app for app in client.call("GET", "/api/v1/apps/")["results"]}
    apps = [name for name in args.apps.split(",") if name in catalogue]
    if not apps:
        print(f"none of {args.apps} is in the catalogue: {sorted(catalogue)}")
        return 2
    markets = [market["name"] for market in client.call("GET", "/api/v1/markets/")["results"]]
    started = time.monotonic()
    deadline = started + args.minutes * 60
    operations: list[str] = []
    refused: Counter[str] = Counter()
    health: list[float] = []
    health_failures = 0
    next_health = 0.0
    round_number = 0

    def poll_health() -> None:
        nonlocal next_health, health_failures
        if time.monotonic() < next_health:
            return
        next_health = time.monotonic() + 5
        begin = time.perf_counter()
        try:
            urllib.request.urlopen(client.url + "/healthz", timeout=10).read()  # noqa: S310
            health.append(time.perf_counter() - begin)
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            health_failures += 1

    def request(method: str, path: str, body: Any = None) -> None:
        try:
            answer = client.call(method, path, body)
        except urllib.error.HTTPError as error:
            refused[f"{error.code} {path.split('/')[-2] or path}"] += 1
            return
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            refused["no answer"] += 1
            return
        operation = (answer or {}).get("operation")
        if isinstance(operation, dict):
            operation = operation.get("id")
        if operation:
            operations.append(str(operation))

    def wait_for(ids: list[str], limit: float) -> None:
        end = time.monotonic() + limit
        pending = set(ids)
        while pending and time.monotonic() < end:
            poll_health()
            for operation_id in list(pending):
                try:
                    state = client.call("GET", f"/api/v1/operations/{operation_id}/")["state"]
                except (urllib.error.URLError, TimeoutError, ConnectionError):
                    continue
                if state not in ACTIVE:
                    pending.discard(operation_id)
            time.sleep(0.5)

    ns = args.namespace
    while time.monotonic() < deadline:
        round_number += 1
        names = [f"soak-{round_number}-{app}" for app in apps]
        mark = len(operations)
        for name, app in zip(names, apps, strict=True):
            version = catalogue[app]["latest"]
            market = catalogue[app]["market"]
            body = {"name": name, "market": market, "app": app, "version": version, "values": {}}
            request("POST", f"/api/v1/namespaces/{ns}/instances/", body)
        for market in markets:
            request("POST", f"/api/v1/markets/{market}/sync/")
        wait_for(operations[mark:], 300)
        mark = len(operations)
        for name, app in zip(names, apps, strict=True):
            body = {"version": catalogue[app]["latest"], "values": {}}
            request("POST", f"/api/v1/namespaces/{ns}/instances/{name}/upgrade/?force=1", body)
        wait_for(operations[mark:], 300)
        mark = len(operations)
        for name in names:
            request("DELETE", f"/api/v1/namespaces/{ns}/instances/{name}/?force=1")
        wait_for(operations[mark:], 300)
        poll_health()

    wait_for(operations, 600)
    states: Counter[str] = Counter()
    for operation_id in operations:
        states[client.call("GET", f"/api/v1/operations/{operation_id}/")["state"]] += 1
    unfinished = sum(states[state] for state in ACTIVE)
    minutes = (time.monotonic() - started) / 60
    print(f"soak: {minutes:.1f} minutes, {round_number} rounds against {client.url}")
    print(f"  operations requested   {len(operations)}  by state: {dict(states)}")
    print(f"  never finished         {unfinished}")
    print(f"  requests refused       {sum(refused.values())}  {dict(refused)}")
    if health:
        p50 = statistics.median(health) * 1000
        worst = max(health) * 1000
        print(f"  /healthz answered      {len(health)} times, p50 {p50:.0f} ms, max {worst:.0f} ms")
    print(f"  /healthz no answer     {health_failures}")
    return 1 if unfinished or health_failures else 0


if __name__ == "__main__":
    sys.exit(main())
