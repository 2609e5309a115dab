"""The one archive-member-type rule (guards.archives): only regular files and
directories, for tar and zip members alike."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile

import pytest

from guards.archives import UnsafeMember, check_tar_member_type, check_zip_member_type


def tar_member(kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    """The member as tarfile reads it back from a real archive, not as built."""
    info = tarfile.TarInfo("app/member")
    info.type, info.linkname = kind, linkname
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        return tar.getmembers()[0]


@pytest.mark.parametrize(
    ("kind", "linkname", "code", "words"),
    [
        (tarfile.SYMTYPE, "/etc/passwd", "symlink", "is a symbolic link (to /etc/passwd)"),
        (tarfile.SYMTYPE, "../../..", "symlink", "symbolic link (to ../../..)"),
        (tarfile.LNKTYPE, "/etc/shadow", "hardlink", "is a hard link (to /etc/shadow)"),
        (tarfile.CHRTYPE, "", "device", "device file"),
        (tarfile.BLKTYPE, "", "device", "device file"),
        (tarfile.FIFOTYPE, "", "fifo", "named pipe"),
        (b"Z", "", "member_type", "not a regular file or directory"),
    ],
)
def test_tar_members_other_than_files_and_folders_are_refused(
    kind: bytes, linkname: str, code: str, words: str
) -> None:
    with pytest.raises(UnsafeMember) as refused:
        check_tar_member_type(tar_member(kind, linkname))

    assert refused.value.code == code
    assert words in refused.value.reason


def test_a_link_target_is_shown_on_one_line() -> None:
    with pytest.raises(UnsafeMember) as refused:
        check_tar_member_type(tar_member(tarfile.SYMTYPE, "/etc/\npasswd"))
    assert "\n" not in refused.value.reason


@pytest.mark.parametrize("kind", [tarfile.REGTYPE, tarfile.DIRTYPE])
def test_tar_files_and_folders_pass(kind: bytes) -> None:
    check_tar_member_type(tar_member(kind))


def zip_member(mode: int, name: str = "app/member") -> zipfile.ZipInfo:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        archive.writestr(info, b"/etc/passwd")
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        return archive.infolist()[0]


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        (stat.S_IFLNK | 0o777, "symlink"),
        (stat.S_IFCHR | 0o644, "device"),
        (stat.S_IFBLK | 0o644, "device"),
        (stat.S_IFIFO | 0o644, "fifo"),
        (stat.S_IFSOCK | 0o644, "member_type"),
    ],
)
def test_zip_members_marked_as_links_or_devices_are_refused(mode: int, code: str) -> None:
    with pytest.raises(UnsafeMember) as refused:
        check_zip_member_type(zip_member(mode))
    assert refused.value.code == code


@pytest.mark.parametrize("mode", [0, 0o644, stat.S_IFREG | 0o755, stat.S_IFDIR | 0o755])
def test_zip_files_folders_and_zips_without_unix_modes_pass(mode: int) -> None:
    check_zip_member_type(zip_member(mode))
