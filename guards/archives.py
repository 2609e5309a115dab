"""Archive member types: the one rule for package archives, build sources and bundles.

Only regular files and directories are accepted. Every other kind of member can
make an unpacker, or a later reader of what was unpacked, touch something outside
the archive:

- a symbolic link can point anywhere (``/etc/passwd``, ``../../..``); even a link
  inside the tree lets a later member be written *through* it;
- a hard link names another file, possibly one outside the tree on extraction, and
  its content is not in the archive at all;
- a character or block device opens hardware when read (``/dev/sda``, ``/dev/zero``
  that never ends);
- a FIFO blocks whoever opens it; a socket or an unknown type has no content to
  trust.

A package is a folder of text files, so refusing all of these costs nothing real.
The same rule holds for zip archives, whose Unix mode bits (``external_attr``) can
mark a member as a link or a device.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile

from guards.paths import shown_path


class UnsafeMember(ValueError):
    """A member the rule refuses. ``code`` is one of ``symlink``, ``hardlink``,
    ``device``, ``fifo``, ``member_type``; ``reason`` is a phrase to put after the
    member's name ("is a hard link (to etc/shadow)")."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


def check_tar_member_type(member: tarfile.TarInfo) -> None:
    """Raise ``UnsafeMember`` unless ``member`` is a regular file or a directory."""
    if member.issym():
        raise UnsafeMember("symlink", f"is a symbolic link (to {shown_path(member.linkname)})")
    if member.islnk():
        raise UnsafeMember("hardlink", f"is a hard link (to {shown_path(member.linkname)})")
    if member.ischr() or member.isblk():
        raise UnsafeMember("device", "is a device file, not a regular file")
    if member.isfifo():
        raise UnsafeMember("fifo", "is a named pipe (FIFO), not a regular file")
    if not (member.isreg() or member.isdir()):
        raise UnsafeMember(
            "member_type", f"is not a regular file or directory (type {member.type!r})"
        )


def check_zip_member_type(info: zipfile.ZipInfo) -> None:
    """Raise ``UnsafeMember`` unless ``info`` is a regular file or a directory. A zip
    made off Unix carries no file type in its mode bits: that is a plain file or
    directory (its name tells which)."""
    mode = info.external_attr >> 16
    if not stat.S_IFMT(mode):
        return
    if stat.S_ISLNK(mode):
        raise UnsafeMember("symlink", "is a symbolic link")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise UnsafeMember("device", "is a device file, not a regular file")
    if stat.S_ISFIFO(mode):
        raise UnsafeMember("fifo", "is a named pipe (FIFO), not a regular file")
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise UnsafeMember("member_type", "is not a regular file or directory")


__all__ = ["UnsafeMember", "check_tar_member_type", "check_zip_member_type"]
