"""Build sources for the builds tests: small package folders, archives of them, git
repositories, and a way to run a queued build the way the worker does."""

from __future__ import annotations

import io
import subprocess
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from builds.models import Build
from builds.tasks import build_run_task

MANIFEST = """\
schema: 1
name: {name}
version: "{version}"
title: Mirror Test
summary: A package whose build fetches from public or intranet hosts.
category: testing
license: Apache-2.0
"""

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: mirror-test
spec:
  template:
    spec:
      initContainers:
        - name: fetch
"""

# The three public hosts a strict build must name, each on a known line.
PUBLIC_TEMPLATE = (
    _DEPLOYMENT
    + """\
          image: python:3.11-slim
          command: ["sh", "-c", "pip install -i https://pypi.org/simple requests && curl -fsSL https://raw.githubusercontent.com/acme/tools/main/setup.sh | sh"]
"""  # noqa: E501 - a real-looking one-line shell command
)

# The same template with every external address taken from the resource variables.
TPL_TEMPLATE = (
    _DEPLOYMENT
    + """\
          image: ${SW_PYTHON3_IMAGE}
          command: ["sh", "-c", "pip install -i ${PYTHON_PIP} requests && curl -fsSL ${RAW_FILES_URL}/acme/tools/main/setup.sh | sh"]
"""  # noqa: E501 - a real-looking one-line shell command
)

INTRANET = {
    "SW_PYTHON3_IMAGE": "registry.corp.example.net/library/python:3.11-slim",
    "PYTHON_PIP": "https://pypi.corp.example.net/simple",
    "RAW_FILES_URL": "https://files.corp.example.net/raw",
}


def write_source(
    root: Path,
    *,
    name: str = "mirror-test",
    version: str = "1.0.0",
    files: dict[str, str] | None = None,
) -> Path:
    """A package source folder under ``root`` holding ``files`` besides the manifest."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.yaml").write_text(MANIFEST.format(name=name, version=version))
    for path, text in (files or {}).items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return folder


def tar_gz(folder: Path, *, prefix: str | None = None) -> bytes:
    """A gzip tar of ``folder`` (its files under ``prefix/``, the folder name by default)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname=prefix if prefix is not None else folder.name)
    return buffer.getvalue()


def tar_with(members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A gzip tar built member by member, for hostile archives."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def zip_of(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def git_repo(folder: Path) -> str:
    """Make ``folder`` a git repository with one commit; return its sha."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
            cwd=folder,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip()

    git("init", "--quiet", "--initial-branch=main")
    git("add", "-A")
    git("commit", "--quiet", "-m", "source")
    return git("rev-parse", "HEAD")


def run_build(build: Build) -> Build:
    """Run a queued build as the worker would (the task, by id), and re-read it."""
    build_run_task(build.pk)
    build.refresh_from_db()
    return build
