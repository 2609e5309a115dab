"""The air-gap lint: which hosts does a package name?

Every text file (after ``*.tpl`` rendering) is scanned line by line for:

- URLs (``scheme://host...``; ``file://`` and templated hosts are skipped);
- container image references in ``image:`` values and Dockerfile ``FROM`` lines
  (``nginx:1.25`` means docker.io, ``ghcr.io/x/y:tag`` means ghcr.io);
- bare host names such as ``mirrors.example.com`` with a common public top-level
  domain, outside URLs, e-mail addresses and Kubernetes ``apiVersion`` groups and
  label keys.

False positives are kept down on purpose: version strings (1.2.3) and file names
(settings.xml, build.sh) are not host names; an e-mail address names a person, not
a download; ``apiVersion: monitoring.coreos.com/v1`` and ``app.kubernetes.io/name:``
are identifiers. Hosts that are identifiers, not downloads (XML and JSON-schema
namespaces, the RFC 2606 example domains) are always allowed.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from itertools import accumulate
from typing import Any

from market.package import SourceFile

# Identifiers, not downloads: schema namespaces and the reserved example names.
IDENTIFIER_HOSTS = frozenset({"json-schema.org", "www.w3.org", "w3.org", "localhost"})
# Reserved example names (RFC 2606) and in-cluster service names: never a download
# from outside the network.
IDENTIFIER_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    "example",
    "test",
    "invalid",
    "localhost",
    "cluster.local",
    "svc",
)
# Written bare (not in a URL or an image), these are Kubernetes API groups and
# label or Secret type prefixes (rbac.authorization.k8s.io, kubernetes.io/tls).
BARE_IDENTIFIER_DOMAINS = ("k8s.io", "kubernetes.io", "coreos.com")
VALID_HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")

URL_RE = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]*)://([^\s/\"'<>()\[\]{}`\\,;]*)")
IMAGE_RE = re.compile(r"^\s*(?:-\s+)?[\"']?image[\"']?\s*:\s*[\"']?([^\s\"'#]+)")
FROM_RE = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?([^\s]+)")
# Top-level domains that are common in download addresses and rare in file names
# (not .sh, .py, .md, .yaml ...).
PUBLIC_TLDS = "com|net|org|io|cn|dev|cloud|co|info|edu|gov|de|uk|jp|ru|us|eu|me|ai"
HOST_RE = re.compile(
    r"(?<![\w.@/-])((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+(?:"
    + PUBLIC_TLDS
    + r"))(?![\w-]|\.[a-zA-Z0-9])"
)
# A line can hold a reference only if it holds one of these.
CANDIDATE_RE = re.compile(r"://|image|FROM|\.(?:" + PUBLIC_TLDS + r")(?![\w-])")
API_VERSION_RE = re.compile(r"^\s*[\"']?apiVersion[\"']?\s*:")
# A YAML key that starts with a domain prefix: a Kubernetes label or annotation key.
LABEL_KEY_RE = re.compile(r"^\s*(?:-\s+)?[\"']?[a-zA-Z0-9.-]+\.[a-z]{2,}/[\w.-]*[\"']?\s*:")


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    host: str
    kind: str  # url | image | host
    text: str  # the reference as written, shortened

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _under(host: str, domains: Iterable[str]) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one."""
    return any(host == d or host.endswith("." + d) for d in domains)


def image_host(reference: str) -> str | None:
    """The registry an image reference pulls from (docker.io when none is named)."""
    if "{{" in reference or "${" in reference or "$(" in reference:
        return None
    ref = reference.split("@", 1)[0]
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first.split(":", 1)[0].lower()
    if ref.lower() == "scratch" or not re.match(r"^[a-z0-9]", ref):
        return None
    return "docker.io"


def _url_host(netloc: str) -> str | None:
    host = netloc.rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else None
    host = host.split(":", 1)[0].strip(".").lower()
    # Regular expressions and templates in URLs ("https://.+", "https://{{ host }}").
    return host if VALID_HOST_RE.match(host) else None


def _is_dockerfile(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith(("Dockerfile", "Containerfile")) or name.endswith(".dockerfile")


def scan_line(
    path: str, number: int, line: str, *, dockerfile: bool | None = None
) -> list[Finding]:
    """The host references of one line. Each kind of reference is looked for only
    when a cheap substring test says it can be there: most lines hold none."""
    found: list[Finding] = []
    covered: list[tuple[int, int]] = []
    if "://" in line:
        for match in URL_RE.finditer(line):
            covered.append(match.span())
            if match.group(1).lower() == "file":
                continue
            host = _url_host(match.group(2))
            if host:
                found.append(Finding(path, number, host, "url", match.group(0)[:120]))
    if dockerfile is None:
        dockerfile = _is_dockerfile(path)
    patterns = []
    if "image" in line:
        patterns.append(IMAGE_RE)
    if dockerfile and "FROM" in line:
        patterns.append(FROM_RE)
    for pattern in patterns:
        image = pattern.match(line)
        if image and "://" not in image.group(1):
            covered.append(image.span(1))
            host = image_host(image.group(1))
            if host:
                found.append(Finding(path, number, host, "image", image.group(1)[:120]))
    if "." not in line or API_VERSION_RE.match(line) or LABEL_KEY_RE.match(line):
        return found
    for match in HOST_RE.finditer(line):
        start = match.start(1)
        if any(a <= start < b for a, b in covered):
            continue
        host = match.group(1).lower()
        if _under(host, BARE_IDENTIFIER_DOMAINS):
            continue
        found.append(Finding(path, number, host, "host", host))
    return found


def as_text(data: bytes) -> str | None:
    """The file's text, or None for a binary file (a NUL early on, or not UTF-8)."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def scan_text(path: str, text: str) -> list[Finding]:
    """The host references of one file. One pass of a cheap regular expression over
    the whole text picks the lines that can hold one; only those are scanned."""
    dockerfile = _is_dockerfile(path)
    lines = text.split("\n")
    # ends[i]: the offset just past line i+1's newline; a match at offset o is on
    # line bisect_right(ends, o) + 1.
    ends = list(accumulate(len(line) + 1 for line in lines))
    candidates = sorted({bisect_right(ends, m.start()) for m in CANDIDATE_RE.finditer(text)})
    findings: list[Finding] = []
    for index in candidates:
        line = lines[index].rstrip("\r")
        findings.extend(scan_line(path, index + 1, line, dockerfile=dockerfile))
    return findings


def scan_files(files: Iterable[SourceFile]) -> list[Finding]:
    """Every host reference in the text files, in file and line order."""
    findings: list[Finding] = []
    for item in files:
        text = as_text(item.data)
        if text is not None:
            findings.extend(scan_text(item.path, text))
    return findings


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    if host in IDENTIFIER_HOSTS or _under(host, IDENTIFIER_DOMAINS):
        return True
    for entry in allowed:
        entry = entry.strip().lower().rstrip(".")
        if not entry:
            continue
        if entry.startswith("*."):
            if host.endswith(entry[1:]):  # subdomains only, as in TLS certificates
                return True
        elif host == entry:
            return True
    return False


def violations(findings: Iterable[Finding], allowed: Iterable[str]) -> list[Finding]:
    allowed = list(allowed)
    return [f for f in findings if not host_allowed(f.host, allowed)]


def format_violations(found: list[Finding], limit: int = 20) -> str:
    """One line: ``file:line host`` for each, the first ``limit`` of them."""
    shown = "; ".join(f"{f.file}:{f.line} {f.host}" for f in found[:limit])
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return f"{len(found)} reference(s) to hosts the profile does not allow: {shown}{more}"
