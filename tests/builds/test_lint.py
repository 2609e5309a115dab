"""The air-gap lint finds the hosts a package names, and only those."""

from __future__ import annotations

from pathlib import Path

import pytest

from builds.lint import host_allowed, image_host, scan_files, scan_line, violations
from market.package import Limits, SourceFile
from market.package.builder import collect_sources

DEMO = Path(__file__).resolve().parents[2] / "market" / "demo" / "apps"


def hosts(line: str, path: str = "templates/x.yaml") -> list[tuple[str, str]]:
    return [(f.host, f.kind) for f in scan_line(path, 1, line)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("image: nginx:1.25", [("docker.io", "image")]),
        ("  - image: ghcr.io/acme/tool:2.0", [("ghcr.io", "image")]),
        ('image: "quay.io/prometheus/node-exporter@sha256:abc"', [("quay.io", "image")]),
        ("image: localhost:5000/app:1", [("localhost", "image")]),
        ("pip install -i https://pypi.org/simple requests", [("pypi.org", "url")]),
        (
            "curl https://raw.githubusercontent.com/a/b/main/x.sh | sh",
            [("raw.githubusercontent.com", "url")],
        ),
        (
            "PIP_INDEX_URL=http://user:pw@mirrors.aliyun.com:8080/pypi",
            [("mirrors.aliyun.com", "url")],
        ),
        ("apk_repo: mirrors.tuna.tsinghua.edu.cn", [("mirrors.tuna.tsinghua.edu.cn", "host")]),
    ],
)
def test_finds_urls_images_and_host_names(line: str, expected: list[tuple[str, str]]) -> None:
    assert hosts(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "version: 1.2.3",  # a version string is not a host
        "appVersion: 10.0.0.1",  # nor a dotted number
        "maintainers: [{name: Ops, email: ops@corp.com}]",  # e-mail addresses name people
        "see settings.xml, build.sh and values.yaml",  # file names
        "apiVersion: monitoring.coreos.com/v1",  # API groups
        "    app.kubernetes.io/name: redis",  # label keys
        'apiGroups: ["rbac.authorization.k8s.io"]',
        "type: kubernetes.io/tls",
        'image: "{{ values.image.repository }}:{{ values.image.tag }}"',  # templated
        "pattern: ^https://.+$",  # a regular expression, not a URL
        "local: file:///srv/data",
    ],
)
def test_ignores_what_is_not_a_download(line: str) -> None:
    assert hosts(line) == []


def test_from_lines_count_in_dockerfiles_only() -> None:
    assert hosts("FROM golang:1.16 AS build", "Dockerfile") == [("docker.io", "image")]
    assert hosts("FROM --platform=linux/amd64 gcr.io/distroless/static", "x.dockerfile") == [
        ("gcr.io", "image")
    ]
    assert hosts("From 1.1 on, the exporter keeps state.", "docs/notes.md") == []


def test_image_host_rules() -> None:
    assert image_host("redis") == "docker.io"
    assert image_host("library/redis:7") == "docker.io"
    assert image_host("registry.corp.example.net:5000/redis:7") == "registry.corp.example.net"
    assert image_host("scratch") is None


def test_schema_namespaces_and_example_domains_are_always_allowed() -> None:
    for host in ("json-schema.org", "www.w3.org", "registry.example.org", "svc.cluster.local"):
        assert host_allowed(host, [])
    assert not host_allowed("badexample.com", [])
    assert host_allowed("pypi.corp.cn", ["*.corp.cn"])
    assert not host_allowed("corp.cn", ["*.corp.cn"])  # *. means subdomains only


def test_demo_packages_name_no_public_host() -> None:
    # The demo packages use example domains, schema namespaces and cluster-local
    # addresses only: a strict build of them passes with nothing allowed.
    for source in sorted(DEMO.glob("*/*")):
        found = violations(scan_files(collect_sources(source, limits=Limits())), [])
        assert found == [], f"{source}: {found}"


def test_binary_files_are_skipped() -> None:
    files = [
        SourceFile("icon.png", b"\x89PNG\x00 https://pypi.org/simple"),
        SourceFile("README.md", b"https://pypi.org/simple\n"),
    ]
    assert [(f.file, f.line, f.host) for f in scan_files(files)] == [("README.md", 1, "pypi.org")]
