"""Reading an untrusted package archive in memory, refusing anything unsafe.

Nothing is ever extracted to disk. The gzip stream is inflated here, in bounded
chunks, and handed to ``tarfile`` in stream mode; every byte inflated is counted, so a
compression bomb is refused once it passes the ratio or size limit, before it can
allocate more than that much memory. Tar header sizes are used only to refuse early
(a member declared over the file limit is refused before its data is read), never to
accept: the inflated byte count is the limit that holds.
"""

from __future__ import annotations

import hashlib
import tarfile
import zlib
from collections import deque
from dataclasses import dataclass, field

from jinja2 import TemplateSyntaxError

from guards.archives import UnsafeMember, check_tar_member_type
from guards.paths import UnsafePath, safe_relative_path, shown_path
from market.package.errors import PackageRefused
from market.package.jinja import TEMPLATES_DIR, is_rendered_template, make_environment
from market.package.limits import Limits, MiB
from market.package.manifest import parse_manifest
from market.package.model import Icon, Package
from market.package.schema import check_default_values, load_values, load_values_schema

# Allowance for tar headers, long-name and pax records and padding on top of the
# PACKAGE_MAX_TOTAL_BYTES of file contents.
TAR_OVERHEAD_BYTES = 4 * MiB
# POSIX ends an archive with two zero blocks; every common writer emits them.
END_OF_ARCHIVE_BYTES = 1024
# Small input chunks keep zlib's unconsumed-tail copies small when the data inflates a
# thousandfold.
_INPUT_CHUNK = 16 * 1024
_MEMBER_CHUNK = 256 * 1024
_RECENT_WINDOW = 64 * 1024
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _InflatingReader:
    """A file-like ``read(n)`` over the gzip data that counts what it inflates and
    refuses past the limits. Keeps the last few inflated chunks so the bytes after the
    tar end-of-archive marker can be checked."""

    def __init__(self, data: bytes, limits: Limits) -> None:
        self._data = memoryview(data)
        self._offset = 0
        self._pending: bytes | memoryview = b""
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._limits = limits
        self.produced = 0
        self._ratio_cap = max(limits.max_ratio * len(data), limits.ratio_floor_bytes)
        self._size_cap = limits.max_total_bytes + TAR_OVERHEAD_BYTES
        self._recent: deque[tuple[int, bytes]] = deque()

    @property
    def finished(self) -> bool:
        return self._inflater.eof

    def check_projection(self, position: int) -> None:
        """Refuse now if the stream would have to inflate past ``position``."""
        self._check(position)

    def _check(self, produced: int) -> None:
        if produced <= min(self._ratio_cap, self._size_cap):
            return
        if self._ratio_cap <= self._size_cap:
            raise PackageRefused(
                "ratio",
                f"compression ratio over {self._limits.max_ratio}: more than "
                f"{self._ratio_cap} bytes uncompressed from {len(self._data)} compressed",
            )
        raise PackageRefused(
            "too_large",
            f"more than {self._limits.max_total_bytes} bytes uncompressed",
        )

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = _INPUT_CHUNK
        pieces: list[bytes] = []
        got = 0
        while got < size and not self._inflater.eof:
            if not self._pending:
                if self._offset >= len(self._data):
                    raise PackageRefused("truncated", "the gzip stream ends early (truncated)")
                self._pending = self._data[self._offset : self._offset + _INPUT_CHUNK]
                self._offset += len(self._pending)
            try:
                piece = self._inflater.decompress(self._pending, size - got)
            except zlib.error as exc:
                raise PackageRefused("not_gzip", f"not a valid gzip stream: {exc}") from None
            self._pending = self._inflater.unconsumed_tail
            if piece:
                pieces.append(piece)
                got += len(piece)
                self._check(self.produced + got)
        chunk = b"".join(pieces)
        self._remember(chunk)
        self.produced += len(chunk)
        return chunk

    def _remember(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._recent.append((self.produced, chunk))
        while len(self._recent) > 1 and self.produced - self._recent[1][0] >= _RECENT_WINDOW:
            self._recent.popleft()

    def bytes_since(self, position: int) -> bytes:
        """Inflated bytes from ``position`` (recently passed) up to what was read."""
        if position >= self.produced:
            return b""
        if not self._recent or self._recent[0][0] > position:
            raise PackageRefused("tar_invalid", "the tar archive ends in an unexpected place")
        return b"".join(chunk[max(0, position - start) :] for start, chunk in self._recent)[
            : self.produced - position
        ]

    def trailing_input(self) -> bool:
        """Whether compressed bytes follow the end of the (first) gzip member."""
        return bool(self._inflater.unused_data) or self._offset < len(self._data)


@dataclass
class _Members:
    root: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    count: int = 0
    total_bytes: int = 0


def _split_path(name: str) -> list[str]:
    """The segments of a member name, or a refusal for any name that is not a plain,
    canonical, relative path (``guards.paths``)."""
    try:
        return safe_relative_path(name)
    except UnsafePath as error:
        raise PackageRefused(error.code, f"member {shown_path(name)}: {error.reason}") from None


def _accept_member(
    member: tarfile.TarInfo, seen: _Members, limits: Limits, stream: _InflatingReader
) -> str | None:
    """Check one member; return its path relative to NAME/ when it is a file to read."""
    seen.count += 1
    if seen.count > limits.max_members:
        raise PackageRefused("too_many_members", f"more than {limits.max_members} members")
    name = member.name.removesuffix("/") if member.isdir() else member.name
    shown = shown_path(name)
    try:
        check_tar_member_type(member)
    except UnsafeMember as error:
        raise PackageRefused(error.code, f"{shown} {error.reason}") from None
    segments = _split_path(name)

    if seen.root is None:
        seen.root = segments[0]
    if segments[0] != seen.root or (len(segments) == 1 and not member.isdir()):
        raise PackageRefused(
            "outside_root", f"member {shown} is not under {shown_path(seen.root)}/"
        )
    if name in seen.names:
        raise PackageRefused("duplicate_member", f"member {shown} appears more than once")
    seen.names.add(name)
    relative = "/".join(segments[1:])
    if not relative:
        return None
    parents = ["/".join(segments[1:i]) for i in range(2, len(segments))]
    if relative in seen.files or (not member.isdir() and relative in seen.directories):
        raise PackageRefused("path_conflict", f"{shown} is both a file and a directory")
    if any(parent in seen.files for parent in parents):
        raise PackageRefused("path_conflict", f"{shown} is inside a path that is a file")
    seen.directories.update(parents)
    if member.isdir():
        seen.directories.add(relative)
        return None

    if member.size > limits.max_file_bytes:
        raise PackageRefused(
            "too_large",
            f"{shown} is {member.size} bytes, over the {limits.max_file_bytes}-byte file limit",
        )
    seen.total_bytes += member.size
    if seen.total_bytes > limits.max_total_bytes:
        raise PackageRefused("too_large", f"more than {limits.max_total_bytes} bytes uncompressed")
    stream.check_projection(member.offset_data + member.size)
    return relative


def _member_data(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    # Chunked reads: one read() of the whole member would hold it three times over
    # inside tarfile's stream buffering.
    handle = tar.extractfile(member)
    chunks: list[bytes] = []
    remaining = member.size
    while handle is not None and remaining > 0:
        chunk = handle.read(min(remaining, _MEMBER_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    if remaining:
        raise PackageRefused("truncated", f"{shown_path(member.name)} ends early (truncated)")
    return b"".join(chunks)


def _tar_refusal(exc: Exception) -> PackageRefused:
    message = str(exc) or type(exc).__name__
    if "unexpected end" in message or "empty file" in message or "truncated" in message:
        return PackageRefused("truncated", f"the tar archive ends early: {message}")
    return PackageRefused("tar_invalid", f"the tar archive cannot be read: {message}")


def _read_members(data: bytes, limits: Limits) -> _Members:
    """Walk the archive once, checking each member before reading its data."""
    seen = _Members()
    stream = _InflatingReader(data, limits)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                relative = _accept_member(member, seen, limits, stream)
                if relative is None:
                    continue
                seen.files[relative] = _member_data(tar, member)
            end = tar.offset
    except PackageRefused:
        raise
    except (tarfile.TarError, ValueError, UnicodeError, OverflowError, EOFError) as exc:
        raise _tar_refusal(exc) from None

    # After the end-of-archive marker only zero padding may follow, up to the end of
    # the gzip stream, and nothing may follow the gzip stream.
    padding = stream.bytes_since(end)
    zeros = 0
    while True:
        if padding.strip(b"\0"):
            raise PackageRefused(
                "trailing_garbage", "data follows the end of the tar archive inside the gzip stream"
            )
        zeros += len(padding)
        if stream.finished:
            break
        padding = stream.read(_INPUT_CHUNK)
    if zeros < END_OF_ARCHIVE_BYTES:
        raise PackageRefused("truncated", "the tar archive has no end-of-archive marker")
    if stream.trailing_input():
        raise PackageRefused("trailing_garbage", "bytes follow the end of the gzip stream")
    return seen


def _text(path: str, data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise PackageRefused(
            "encoding", f"{shown_path(path)} is not UTF-8 (bad byte at offset {exc.start})"
        ) from None


def _templates(files: dict[str, bytes]) -> dict[str, str]:
    templates = {
        path: _text(path, data) for path, data in files.items() if path.startswith(TEMPLATES_DIR)
    }
    env = make_environment(templates)
    for path in sorted(templates):
        try:
            env.compile(templates[path], name=path, filename=path)
        except TemplateSyntaxError as exc:
            raise PackageRefused(
                "template_syntax", f"{shown_path(path)} line {exc.lineno}: {exc.message}"
            ) from None
        except RecursionError:
            raise PackageRefused(
                "template_syntax", f"{shown_path(path)}: nested too deeply"
            ) from None
    return templates


def _icon(files: dict[str, bytes], limits: Limits) -> Icon | None:
    icon = None
    for name in ("icon.png", "icon.svg"):
        data = files.get(name)
        if data is None:
            continue
        if len(data) > limits.max_icon_bytes:
            raise PackageRefused(
                "icon_too_large",
                f"{name} is {len(data)} bytes, over {limits.max_icon_bytes // 1024} KiB",
            )
        if name == "icon.png" and not data.startswith(_PNG_MAGIC):
            raise PackageRefused("icon_invalid", "icon.png is not a PNG image")
        if name == "icon.svg":
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise PackageRefused("icon_invalid", "icon.svg is not UTF-8 text") from None
            if "<svg" not in text:
                raise PackageRefused("icon_invalid", "icon.svg has no <svg> element")
        icon = Icon(name, data)  # icon.svg wins when both exist
    return icon


def read_package(
    data: bytes, *, filename: str | None = None, limits: Limits | None = None
) -> Package:
    """Read and check one package archive; return its contents or raise PackageRefused.

    Steps: inflate and walk the tar members (types, paths, counts, sizes, ratio, gzip
    framing); parse manifest.yaml and check that its name is the folder's and that
    ``filename`` (when given, directories stripped) is NAME-VERSION.tgz; load
    values.yaml and values.schema.json and check the defaults against the schema;
    compile every template; check text encodings, components and the icon.
    """
    limits = limits or Limits.from_settings()
    if not data:
        raise PackageRefused("not_gzip", "the archive is empty (0 bytes)")
    if len(data) > limits.max_total_bytes + TAR_OVERHEAD_BYTES:
        raise PackageRefused("too_large", f"the archive is over {limits.max_total_bytes} bytes")
    seen = _read_members(bytes(data), limits)
    files = seen.files
    if seen.root is None:
        raise PackageRefused("manifest_missing", "the archive is empty")
    if "manifest.yaml" not in files:
        raise PackageRefused(
            "manifest_missing", f"{shown_path(seen.root)}/manifest.yaml is missing"
        )

    manifest = parse_manifest(files["manifest.yaml"])
    if manifest.name != seen.root:
        raise PackageRefused(
            "name_mismatch",
            f"manifest name {manifest.name!r} differs from the folder {shown_path(seen.root)}/",
        )
    if filename is not None:
        basename = filename.replace("\\", "/").rsplit("/", 1)[-1]
        if basename != manifest.archive_name:
            raise PackageRefused(
                "filename_mismatch",
                f"file name {shown_path(basename)} should be {manifest.archive_name} "
                f"for {manifest.name} {manifest.version}",
            )

    values = load_values(files.get("values.yaml"))
    values_schema = load_values_schema(files.get("values.schema.json"))
    check_default_values(values_schema, values)

    readme = _text("README.md", files["README.md"]) if "README.md" in files else None
    docs = {
        path: _text(path, content)
        for path, content in sorted(files.items())
        if path.startswith("docs/") and path.endswith(".md")
    }
    templates = _templates(files)
    rendered = [path for path in templates if is_rendered_template(path)]
    for component in manifest.components:
        if not any(component.matches(path) for path in rendered):
            raise PackageRefused(
                "component_empty",
                f"component {component.name!r}: {', '.join(component.templates)} "
                "matches no template",
            )
    icon = _icon(files, limits)

    return Package(
        manifest=manifest,
        files=files,
        readme=readme,
        docs=docs,
        values=values,
        values_schema=values_schema,
        templates=templates,
        icon=icon,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        size=len(data),
        directories=frozenset(seen.directories),
    )
