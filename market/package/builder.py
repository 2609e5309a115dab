"""Building a package archive from a source folder, reproducibly."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from guards.paths import shown_path
from market.package.errors import PackageRefused
from market.package.limits import Limits
from market.package.manifest import parse_manifest
from market.package.model import Package
from market.package.reader import read_package

SKIPPED_NAMES = frozenset({".git", "__pycache__", ".DS_Store"})
SKIPPED_SUFFIXES = (".pyc",)
GZIP_LEVEL = 9


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to the source folder, "/"-separated
    data: bytes
    executable: bool = False


# The seam for build-time steps (the builds issue: rendering ``*.tpl`` files with a
# resource profile, strict host checks). It receives every collected file, sorted by
# path, and returns the files to pack; raise PackageRefused to stop the build.
SourcePreparer = Callable[[list[SourceFile]], list[SourceFile]]


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    digest: str
    size: int
    package: Package


def _skipped(name: str) -> bool:
    return name in SKIPPED_NAMES or name.endswith(SKIPPED_SUFFIXES)


def collect_sources(
    source_dir: Path, *, limits: Limits, exclude: frozenset[Path] = frozenset()
) -> list[SourceFile]:
    """Every regular file under ``source_dir``, sorted by path. Symbolic links and special
    files are refused, never followed; .git, __pycache__, *.pyc and .DS_Store are skipped;
    limits are enforced before a file is read."""
    files: list[SourceFile] = []
    total = 0

    def walk(folder: Path, prefix: str) -> None:
        nonlocal total
        with os.scandir(folder) as entries:
            ordered = sorted(entries, key=lambda entry: entry.name)
        for entry in ordered:
            if _skipped(entry.name):
                continue
            path = Path(entry.path)
            relative = f"{prefix}{entry.name}"
            shown = shown_path(relative)
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                raise PackageRefused("bad_path", f"{shown}: file name is not UTF-8") from None
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                raise PackageRefused(
                    "symlink", f"{shown} is a symbolic link; packages hold regular files only"
                )
            if path in exclude:
                continue
            if stat.S_ISDIR(info.st_mode):
                walk(path, f"{relative}/")
                continue
            if not stat.S_ISREG(info.st_mode):
                raise PackageRefused(
                    "special_file", f"{shown} is not a regular file (device, FIFO or socket)"
                )
            if info.st_size > limits.max_file_bytes:
                raise PackageRefused(
                    "too_large",
                    f"{shown} is {info.st_size} bytes, over the "
                    f"{limits.max_file_bytes}-byte file limit",
                )
            total += info.st_size
            if total > limits.max_total_bytes:
                raise PackageRefused(
                    "too_large", f"more than {limits.max_total_bytes} bytes of files"
                )
            if len(files) >= limits.max_members:
                raise PackageRefused("too_many_members", f"more than {limits.max_members} files")
            files.append(
                SourceFile(
                    path=relative,
                    data=path.read_bytes(),
                    executable=bool(info.st_mode & 0o111),
                )
            )

    walk(source_dir, "")
    return files


def source_date_epoch() -> int:
    """Member mtime: SOURCE_DATE_EPOCH when set to a whole number, else 0."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(raw) if raw.isdigit() else 0


def pack(root: str, files: list[SourceFile], *, mtime: int = 0) -> bytes:
    """A gzip tar of ``files`` under ``root/``. The same input gives the same bytes:
    sorted members, fixed mtime, owner 0/0 with no names, modes 0644/0755, gzip header
    without name or time."""
    directories = {root}
    for source in files:
        parts = source.path.split("/")
        directories.update("/".join([root, *parts[:i]]) for i in range(1, len(parts)))
    entries: list[tuple[list[str], SourceFile | None]] = [
        (name.split("/"), None) for name in directories
    ]
    entries += [([root, *item.path.split("/")], item) for item in files]
    entries.sort(key=lambda entry: entry[0])

    buffer = io.BytesIO()
    with (
        gzip.GzipFile(
            filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=GZIP_LEVEL
        ) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for parts, entry in entries:
            info = tarfile.TarInfo("/".join(parts))
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if entry is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                info.mode = 0o755 if entry.executable else 0o644
                tar.addfile(info, io.BytesIO(entry.data))
    return buffer.getvalue()


def _earlier_build(path: str, name: str) -> bool:
    return "/" not in path and path.startswith(f"{name}-") and path.endswith(".tgz")


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build_package(
    source_dir: Path,
    *,
    out_dir: Path,
    prepare: SourcePreparer | None = None,
    limits: Limits | None = None,
    mtime: int | None = None,
) -> BuiltPackage:
    """Pack ``source_dir`` into ``out_dir/NAME-VERSION.tgz`` and return it.

    Steps: parse the source manifest.yaml (name and version name the archive);
    collect the files (collect_sources), leaving out ``out_dir`` when it lies inside the
    source; pass them through ``prepare`` when given; pack them reproducibly (pack);
    read the archive back with read_package, so a built package is always one that
    publishing accepts; only then write it, atomically. On refusal nothing is written.
    """
    limits = limits or Limits.from_settings()
    source = Path(source_dir)
    if not source.is_dir():
        raise PackageRefused("source_invalid", f"{shown_path(str(source))} is not a folder")
    manifest_path = source / "manifest.yaml"
    if manifest_path.is_symlink():
        raise PackageRefused("symlink", "manifest.yaml is a symbolic link")
    if not manifest_path.is_file():
        raise PackageRefused("source_invalid", f"no manifest.yaml in {shown_path(str(source))}")
    manifest = parse_manifest(manifest_path.read_bytes())

    resolved_source = source.resolve()
    resolved_out = Path(out_dir).resolve()
    exclude: set[Path] = set()
    if resolved_out != resolved_source and resolved_out.is_relative_to(resolved_source):
        exclude.add(source / resolved_out.relative_to(resolved_source))
    files = collect_sources(source, limits=limits, exclude=frozenset(exclude))
    if resolved_out == resolved_source:
        # Earlier builds written next to the sources are not sources.
        files = [f for f in files if not _earlier_build(f.path, manifest.name)]
    if prepare is not None:
        files = sorted(prepare(files), key=lambda f: f.path)

    data = pack(manifest.name, files, mtime=source_date_epoch() if mtime is None else mtime)
    package = read_package(data, filename=manifest.archive_name, limits=limits)
    target = Path(out_dir) / manifest.archive_name
    _write_atomically(target, data)
    return BuiltPackage(path=target, digest=package.digest, size=package.size, package=package)
