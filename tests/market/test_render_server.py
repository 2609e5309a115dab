"""The render child (market.package.render_server): one child serves many renders,
every limit still holds there, a child that reached one is replaced, and the child
never holds the parent's sockets nor outlives it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from market.package import render_server
from market.package.jinja import make_environment
from market.package.render import InstanceContext, render_templates_masked
from market.package.render_limits import RenderLimitExceeded, RenderLimits
from market.package.render_server import run_served
from tests.market.test_package_render import package_with
from tests.market.test_render_limits import HOSTILE_TEMPLATES

pytestmark = pytest.mark.smoke

LIMITS = RenderLimits(timeout_seconds=2, max_bytes=1024 * 1024)
ROOT = Path(__file__).resolve().parents[2]


def child_pid() -> int:
    """The pid of the process that serves this process's renders."""
    return run_served(os.getpid, limits=LIMITS)


def render(template: str) -> str:
    return (
        make_environment({"t.yaml": template}).get_template("t.yaml").render(values={"name": "web"})
    )


def test_one_child_serves_one_render_after_another() -> None:
    first = child_pid()

    assert [run_served(render, "x: {{ values.name }}", limits=LIMITS) for _ in range(5)] == [
        "x: web"
    ] * 5
    assert child_pid() == first != os.getpid()


# All but the one refused when compiled, before any render.
RENDER_TIME = [case for case in HOSTILE_TEMPLATES if case != "autoescape-expression"]


@pytest.mark.parametrize("case", RENDER_TIME)
def test_every_hostile_template_reaches_a_limit_and_the_next_render_works(case: str) -> None:
    before = child_pid()

    with pytest.raises(RenderLimitExceeded):
        run_served(render, HOSTILE_TEMPLATES[case], limits=LIMITS)

    assert run_served(render, "x: {{ values.name }}", limits=LIMITS) == "x: web"
    # What the hostile call left behind went with its child.
    assert child_pid() != before


def test_an_error_in_a_template_is_raised_here_and_keeps_the_child() -> None:
    before = child_pid()

    with pytest.raises(ZeroDivisionError):
        run_served(render, "x: {{ 1 / 0 }}", limits=LIMITS)

    assert child_pid() == before


def test_the_child_holds_none_of_the_parents_sockets() -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    try:
        render_server._child = None  # a child forked while the socket is open
        pid = child_pid()
        descriptors = os.listdir(f"/proc/{pid}/fd")
        targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in descriptors]
    finally:
        listening.close()

    assert not [t for t in targets if t.startswith("socket:")]
    assert len([t for t in targets if t.startswith("pipe:")]) >= 2


def test_threads_render_at_once_while_the_child_is_replaced() -> None:
    # Other limits replace the child; a thread that finds it busy forks a one-off
    # child meanwhile. A fork must never close a pipe number another thread reuses.
    other = RenderLimits(timeout_seconds=3, max_bytes=1024 * 1024)
    results: list[str] = []

    def work(offset: int) -> None:
        for i in range(60):
            limits = LIMITS if (i + offset) % 3 else other
            try:
                results.append(run_served(render, "x: {{ values.name }}", limits=limits))
            except RenderLimitExceeded as exc:
                results.append(str(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == ["x: web"] * 240


def test_the_child_leaves_when_its_parent_dies(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys
        from market.package.render_limits import RenderLimits
        from market.package.render_server import run_served
        print(run_served(os.getpid, limits=RenderLimits()), flush=True)
        os._exit(0)  # no clean-up: as a SIGKILLed worker leaves
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    pid = int(out.stdout.strip())

    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
        if ") Z " in stat:  # a zombie waits for init to reap it: it has left
            break
        time.sleep(0.05)
    alive = Path(f"/proc/{pid}").exists() and ") Z " not in Path(f"/proc/{pid}/stat").read_text()
    assert not alive


def test_a_render_through_the_child_gives_the_manifests_and_the_masked_copy() -> None:
    package = package_with(
        {
            "values.yaml": "name: web\nreplicas: 1\npassword: s3cret\n",
            "values.schema.json": (
                '{"type": "object", "properties": {"password": {"type": "string",'
                ' "writeOnly": true}}}'
            ),
            "templates/cm.yaml": "name: {{ values.name }}\npw: {{ values.password | upper }}\n",
        }
    )
    instance = InstanceContext(name="web", namespace="team-a", revision=1)

    rendered = render_templates_masked(package, values={}, instance=instance)

    assert rendered.manifests["templates/cm.yaml"] == "name: web\npw: S3CRET\n"
    assert "S3CRET" not in rendered.masked["templates/cm.yaml"]
