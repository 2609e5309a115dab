"""Package archives for tests, valid or hostile, made in memory.

``archive([...members...])`` makes a gzip tar from member specs, including the kinds a
real tool would never let through (symlinks, devices, absolute paths, duplicates).
``package_members()`` gives the members of a small valid package to start from.
Bombs are made by streaming, so they cost little memory and time to build.
"""

from __future__ import annotations

import functools
import gzip
import io
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

MiB = 1024 * 1024
NAME = "log-analyzer"
VERSION = "1.4.2"

BASE_MANIFEST: dict[str, Any] = {
    "schema": 1,
    "name": NAME,
    "version": VERSION,
    "title": "Log Analyzer",
    "summary": "Finds error bursts in container logs",
    "category": "observability",
    "keywords": ["logs", "alerting"],
    "license": "Apache-2.0",
    "homepage": "https://example.org/log-analyzer",
    "maintainers": [{"name": "Ops Team", "email": "ops@example.org"}],
    "dependencies": [{"name": "redis-ops", "version": ">=1.2.0 <2.0.0"}],
    "components": [{"name": "api", "templates": ["templates/api/*.yaml"]}],
}

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ instance.name }}-api
  namespace: {{ instance.namespace }}
spec:
  replicas: {{ values.replicas }}
"""


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink, chardev, blockdev, fifo
    linkname: str = ""
    mode: int = 0o644


def file(name: str, data: bytes | str = b"") -> Member:
    return Member(name, data.encode() if isinstance(data, str) else data)


def directory(name: str) -> Member:
    return Member(name, kind="dir", mode=0o755)


def symlink(name: str, target: str) -> Member:
    return Member(name, kind="symlink", linkname=target)


def hardlink(name: str, target: str) -> Member:
    return Member(name, kind="hardlink", linkname=target)


def chardev(name: str) -> Member:
    return Member(name, kind="chardev")


def blockdev(name: str) -> Member:
    return Member(name, kind="blockdev")


def fifo(name: str) -> Member:
    return Member(name, kind="fifo")


_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chardev": tarfile.CHRTYPE,
    "blockdev": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def tar_info(member: Member) -> tarfile.TarInfo:
    info = tarfile.TarInfo(member.name)
    info.type = _TYPES[member.kind]
    info.mode = member.mode
    info.linkname = member.linkname
    info.size = len(member.data) if member.kind == "file" else 0
    if member.kind in {"chardev", "blockdev"}:
        info.devmajor, info.devminor = 1, 3
    return info


def tar_bytes(members: Iterable[Member], *, end_marker: bool = True) -> bytes:
    """An uncompressed tar. ``addfile`` writes names exactly as given (no stripping of
    '/' or '..'), which is what hostile archives need."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tar_info(member)
            tar.addfile(info, io.BytesIO(member.data) if member.kind == "file" else None)
        if not end_marker:
            # What was written so far, before close() adds the end-of-archive blocks.
            return buffer.getvalue()
    return buffer.getvalue()


def gzip_bytes(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=9, mtime=0)


def archive(
    members: Iterable[Member],
    *,
    trailing: bytes = b"",
    truncate: int | None = None,
    end_marker: bool = True,
) -> bytes:
    """A gzip tar of ``members``; ``trailing`` bytes appended after the gzip stream,
    ``truncate`` bytes cut off its end."""
    data = gzip_bytes(tar_bytes(members, end_marker=end_marker))
    if truncate:
        data = data[:-truncate]
    return data + trailing


def manifest_text(**changes: Any) -> str:
    """The base manifest as YAML with fields changed; a value of None removes a field."""
    document = {**BASE_MANIFEST, **changes}
    return yaml.safe_dump({k: v for k, v in document.items() if v is not None}, sort_keys=False)


def package_members(
    *,
    root: str = NAME,
    manifest: str | None = None,
    files: Mapping[str, bytes | str | None] | None = None,
) -> list[Member]:
    """The members of a small valid package under ``root/``: manifest, README, a doc,
    values with a schema, one template. ``files`` adds or replaces files (relative to
    the root); a None value leaves that file out."""
    contents: dict[str, bytes | str | None] = {
        "manifest.yaml": manifest if manifest is not None else manifest_text(),
        "README.md": "# Log Analyzer\n\nFinds error bursts.\n",
        "docs/operations.md": "# Operations\n",
        "values.yaml": "replicas: 2\ndatabase:\n  host: db\n",
        "values.schema.json": (
            '{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",'
            ' "properties": {"replicas": {"type": "integer", "minimum": 1},'
            ' "database": {"type": "object", "properties": {"host": {"type": "string"},'
            ' "password": {"type": "string", "writeOnly": true}}}}}'
        ),
        "templates/api/deployment.yaml": DEPLOYMENT,
    }
    contents.update(files or {})
    members = [directory(root)]
    for path, data in sorted(contents.items()):
        if data is not None:
            members.append(file(f"{root}/{path}", data))
    return members


def package_archive(**kwargs: Any) -> bytes:
    return archive(package_members(**kwargs))


def _stream_archive(pieces: Iterable[bytes]) -> bytes:
    """Gzip a tar stream given as pieces, at level 9, without holding it whole."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [compressor.compress(piece) for piece in pieces]
    out.append(compressor.flush())
    return b"".join(out)


def _zero_member(name: str, size: int) -> Iterable[bytes]:
    info = tarfile.TarInfo(name)
    info.size = size
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    chunk = bytes(MiB)
    remaining = size
    while remaining:
        step = min(remaining, MiB)
        yield chunk[:step]
        remaining -= step
    yield bytes(-size % tarfile.BLOCKSIZE)


@functools.lru_cache(maxsize=4)
def zero_bomb(*, members: int = 20, member_size: int = 10 * MiB) -> bytes:
    """A package whose files are all zeros: ``members`` x ``member_size`` bytes inflated
    (200 MiB by default) from about a thousandth of that."""

    def pieces() -> Iterable[bytes]:
        manifest = file(f"{NAME}/manifest.yaml", manifest_text())
        yield tar_info(manifest).tobuf(format=tarfile.PAX_FORMAT)
        yield manifest.data + bytes(-len(manifest.data) % tarfile.BLOCKSIZE)
        for index in range(members):
            yield from _zero_member(f"{NAME}/data/zeros-{index:03}.bin", member_size)
        yield bytes(2 * tarfile.BLOCKSIZE)

    return _stream_archive(pieces())


def declared_huge(size: int = 1024**3) -> bytes:
    """A member whose header declares ``size`` bytes, followed by only 64 KiB of them:
    a reader that trusts the header to read (or allocate) is caught out."""
    info = tarfile.TarInfo(f"{NAME}/huge.bin")
    info.size = size
    return _stream_archive([info.tobuf(format=tarfile.PAX_FORMAT), bytes(64 * 1024)])


def pax_header_bomb(size: int = 50 * MiB) -> bytes:
    """A pax extended header (inflated inside tarfile, never seen as a member) of
    ``size`` zero bytes."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = size
    pieces = [info.tobuf(format=tarfile.USTAR_FORMAT)]
    pieces += [bytes(MiB)] * (size // MiB)
    return _stream_archive(pieces)


def padding_bomb(size: int = 50 * MiB) -> bytes:
    """A valid package followed, inside the gzip stream, by ``size`` zero bytes of
    "padding" after the end-of-archive marker."""
    raw = tar_bytes(package_members())
    return _stream_archive([raw, *([bytes(MiB)] * (size // MiB))])
