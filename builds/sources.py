"""Getting a build's source into a fresh sandbox folder, refusing hostile input.

An uploaded archive (gzip tar or zip) or a git repository (fetched, then exported
with ``git archive`` and unpacked by the same code as an upload, so both kinds of
source meet the same rules). Refused, with one line saying why: links of any kind
(a symlink could leave the tree; packages hold regular files only), device files,
absolute paths and ``..``, a name that repeats, more files or bytes than the
package limits (PACKAGE_MAX_*), truncated or corrupt archives.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from guards.archives import UnsafeMember, check_tar_member_type, check_zip_member_type
from guards.git import git_env
from guards.paths import UnsafePath, safe_relative_path, shown_path
from market.package import Limits, PackageRefused

SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def _member_path(name: str, *, directory: bool) -> str:
    """The relative path of an archive member, by the one path rule (``guards.paths``).

    Two spellings that archivers add to canonical names are taken off first, because
    ``tar -czf src.tgz -C my-app .`` is how people pack a folder: a leading ``./`` and
    a directory's trailing ``/``. The archive's own top folder (``.``, ``./``) is "".
    Anything else non-canonical (``a//b``, ``a/./b``) is refused, never rewritten."""
    if name in (".", "./"):
        return ""
    trimmed = name.removeprefix("./")
    if directory:
        trimmed = trimmed.removesuffix("/")
    try:
        return "/".join(safe_relative_path(trimmed))
    except UnsafePath as error:
        raise PackageRefused(error.code, f"{shown_path(name, 100)}: {error.reason}") from None


def _refuse_member_type(path: str, error: UnsafeMember) -> PackageRefused:
    return PackageRefused(error.code, f"{path} {error.reason}; sources hold regular files only")


class _Writer:
    """Writes members under ``root`` while keeping count against the limits."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self.files = 0
        self.total = 0
        self.seen: set[str] = set()

    def directory(self, path: str) -> None:
        if path:
            (self.root / path).mkdir(parents=True, exist_ok=True)

    def file(self, path: str, size: int, stream: IO[bytes] | None, mode: int) -> None:
        if not path:
            return
        if path in self.seen:
            raise PackageRefused("duplicate_member", f"{path}: name repeats in the archive")
        self.seen.add(path)
        self.files += 1
        if self.files > self.limits.max_members:
            raise PackageRefused("too_many_members", f"more than {self.limits.max_members} files")
        if size > self.limits.max_file_bytes:
            raise PackageRefused(
                "too_large",
                f"{path} is {size} bytes, over the {self.limits.max_file_bytes}-byte file limit",
            )
        self.total += size
        if self.total > self.limits.max_total_bytes:
            raise PackageRefused("too_large", f"more than {self.limits.max_total_bytes} bytes")
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            raise PackageRefused("duplicate_member", f"{path}: name repeats in the archive")
        # Read at most the declared size plus one byte: a member that holds more than
        # its header says is corrupt (or a zip bomb).
        data = stream.read(size + 1) if stream is not None else b""
        if len(data) != size:
            raise PackageRefused("archive_invalid", f"{path}: size differs from the archive header")
        with open(target, "xb") as out:
            out.write(data)
        os.chmod(target, 0o755 if mode & 0o111 else 0o644)


def extract_archive(data: bytes, dest: Path, *, limits: Limits, filename: str = "") -> None:
    """Unpack a gzip tar or zip into ``dest`` (an empty folder). On refusal the
    caller removes ``dest``: this function may have written part of it."""
    dest.mkdir(parents=True, exist_ok=True)
    writer = _Writer(dest, limits)
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".zip"):
        _extract_zip(data, writer)
    elif data[:2] == b"\x1f\x8b" or data[:262][257:262] == b"ustar":
        _extract_tar(data, writer)
    else:
        raise PackageRefused("archive_invalid", "not a gzip tar or zip archive")


def _extract_tar(data: bytes, writer: _Writer) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                if member.type in (tarfile.XHDTYPE, tarfile.XGLTYPE):
                    continue
                path = _member_path(member.name, directory=member.isdir())
                try:
                    check_tar_member_type(member)
                except UnsafeMember as error:
                    raise _refuse_member_type(path, error) from None
                if member.isdir():
                    writer.directory(path)
                    continue
                writer.file(path, member.size, tar.extractfile(member), member.mode)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, FileExistsError):
            raise PackageRefused("duplicate_member", "a name repeats in the archive") from None
        raise PackageRefused("archive_invalid", f"corrupt archive: {exc}") from None


def _extract_zip(data: bytes, writer: _Writer) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                path = _member_path(info.filename, directory=info.is_dir())
                try:
                    check_zip_member_type(info)
                except UnsafeMember as error:
                    raise _refuse_member_type(path, error) from None
                if info.is_dir():
                    writer.directory(path)
                    continue
                with archive.open(info) as stream:
                    writer.file(path, info.file_size, stream, info.external_attr >> 16)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise PackageRefused("archive_invalid", f"corrupt archive: {exc}") from None


def package_root(folder: Path) -> Path:
    """The folder holding manifest.yaml: the top, or its one sub-folder (an archive
    of ``my-app/...``)."""
    if (folder / "manifest.yaml").is_file():
        return folder
    entries = [e for e in folder.iterdir() if e.name not in ("pax_global_header",)]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "manifest.yaml").is_file():
        return entries[0]
    raise PackageRefused("source_invalid", "no manifest.yaml at the top of the source")


def git_export(
    url: str,
    ref: str,
    dest: Path,
    *,
    work: Path,
    limits: Limits,
    timeout: int,
    config: Sequence[str] = (),
) -> str:
    """Fetch ``ref`` of ``url`` into a bare repository under ``work``, unpack that
    commit's tree into ``dest`` and return the commit sha.

    The URL was checked by the caller (scheme, network guard), which passes in
    ``config`` the ``http.curloptResolve`` pins of the addresses it checked. Here
    git runs with no system or user configuration, no prompts, no redirects, and
    only the protocols the URL's scheme needs; hooks never run in a bare fetch."""
    if not REF_RE.fullmatch(ref) or ".." in ref or ref.startswith("-"):
        raise PackageRefused("git_ref", f"{ref[:100]!r} is not a branch, tag or commit")
    scheme = url.split(":", 1)[0].lower()
    # Nothing of the worker's environment (``guards.git``); HOME is the sandbox.
    env = git_env(
        home=work,
        extra={"GIT_ALLOW_PROTOCOL": "file" if scheme == "file" else "http:https"},
    )
    repo = work / "repo.git"

    git_bin = shutil.which("git")
    if git_bin is None:
        raise PackageRefused("git_failed", "git is not installed on this server")

    def git(*args: str) -> bytes:
        try:
            # Arguments are a list (no shell); the URL and ref were checked above.
            done = subprocess.run(  # noqa: S603
                [
                    git_bin,
                    "-c",
                    "http.followRedirects=false",
                    "-c",
                    "protocol.file.allow=always",
                    *(item for setting in config for item in ("-c", setting)),
                    *args,
                ],
                cwd=work,
                env=env,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PackageRefused("git_failed", f"git {args[0]} took over {timeout}s") from None
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise PackageRefused(
                "git_failed", f"git {args[0]} failed: {message[-1] if message else 'error'}"
            )
        return done.stdout

    git("init", "--quiet", "--bare", str(repo))
    # A sha is fetched as itself; a name as a branch or a tag.
    refspec = ref if SHA_RE.fullmatch(ref) else f"+{ref}:refs/build/wanted"
    git("--git-dir", str(repo), "fetch", "--quiet", "--no-tags", "--depth", "1", "--", url, refspec)
    target = ref if SHA_RE.fullmatch(ref) else "refs/build/wanted"
    sha = git("--git-dir", str(repo), "rev-parse", "--verify", f"{target}^{{commit}}").decode()
    sha = sha.strip()
    tar = git("--git-dir", str(repo), "archive", "--format=tar", sha)
    extract_archive(tar, dest, limits=limits)
    return sha


__all__ = ["extract_archive", "git_export", "package_root"]
