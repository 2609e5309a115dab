"""build_package and the package_build command: reproducible, safe, always valid."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from market.package import Limits, PackageRefused, SourceFile, build_package, read_package
from tests.market.package_sources import write_source

ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_source(tmp_path / "src")


def members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()


def test_builds_name_version_tgz_that_reads_back(source: Path, tmp_path: Path) -> None:
    built = build_package(source, out_dir=tmp_path / "out", limits=LIMITS)

    assert built.path == tmp_path / "out" / "log-analyzer-1.4.2.tgz"
    data = built.path.read_bytes()
    assert built.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert built.size == len(data)
    package = read_package(data, filename=built.path.name, limits=LIMITS)
    assert package.digest == built.digest
    assert package.files["README.md"] == (source / "README.md").read_bytes()
    assert set(package.docs) == {"docs/configuration.md", "docs/runbooks/burst.md"}
    assert package.secret_paths() == ["database.password"]
    assert oct(built.path.stat().st_mode & 0o777) == oct(0o644)


def test_archive_members_are_normalised(source: Path, tmp_path: Path) -> None:
    os.chmod(source / "README.md", 0o600)

    built = build_package(source, out_dir=tmp_path, limits=LIMITS)

    infos = members(built.path)
    names = [info.name for info in infos]
    assert names[0] == "log-analyzer"
    assert names == sorted(names, key=lambda name: name.split("/"))
    assert all(name == "log-analyzer" or name.startswith("log-analyzer/") for name in names)
    assert {(i.uid, i.gid, i.uname, i.gname, i.mtime) for i in infos} == {(0, 0, "", "", 0)}
    modes = {info.name: info.mode for info in infos}
    assert modes["log-analyzer/README.md"] == 0o644
    assert modes["log-analyzer/bin/collect.sh"] == 0o755
    assert modes["log-analyzer/templates"] == 0o755
    assert all(info.isfile() or info.isdir() for info in infos)
    header = built.path.read_bytes()[:10]
    assert header[4:8] == b"\0\0\0\0"  # gzip mtime
    assert not header[3] & 0x08  # no FNAME


def test_same_source_gives_the_same_digest(source: Path, tmp_path: Path) -> None:
    first = build_package(source, out_dir=tmp_path / "a", limits=LIMITS)
    copy = shutil.copytree(source, tmp_path / "elsewhere" / "other-name")
    os.utime(copy / "README.md", (1_000_000, 1_000_000))
    (copy / "values.yaml").chmod(0o600)

    second = build_package(copy, out_dir=tmp_path / "b", limits=LIMITS)

    assert second.digest == first.digest
    assert second.path.read_bytes() == first.path.read_bytes()


def test_source_date_epoch_sets_member_times(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = build_package(source, out_dir=tmp_path / "a", limits=LIMITS)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")

    dated = build_package(source, out_dir=tmp_path / "b", limits=LIMITS)

    assert {info.mtime for info in members(dated.path)} == {1_700_000_000}
    assert dated.digest != plain.digest
    assert build_package(source, out_dir=tmp_path / "c", limits=LIMITS).digest == dated.digest


def test_skips_vcs_caches_and_os_litter(source: Path, tmp_path: Path) -> None:
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (source / "bin" / "__pycache__").mkdir()
    (source / "bin" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (source / "bin" / "helper.pyc").write_bytes(b"\0")
    (source / "docs" / ".DS_Store").write_bytes(b"\0")

    built = build_package(source, out_dir=tmp_path / "out", limits=LIMITS)

    names = {info.name for info in members(built.path)}
    assert not any(
        part in {".git", "__pycache__", ".DS_Store"} or part.endswith(".pyc")
        for name in names
        for part in name.split("/")
    )
    clean = build_package(write_source(tmp_path / "clean"), out_dir=tmp_path / "o2", limits=LIMITS)
    assert built.digest == clean.digest


def test_earlier_builds_inside_the_source_are_not_packed(tmp_path: Path) -> None:
    clean = build_package(write_source(tmp_path / "a"), out_dir=tmp_path / "out", limits=LIMITS)
    nested = write_source(tmp_path / "b")
    beside = write_source(tmp_path / "c")

    into_dist = [build_package(nested, out_dir=nested / "dist", limits=LIMITS) for _ in "12"]
    into_source = [build_package(beside, out_dir=beside, limits=LIMITS) for _ in "12"]

    assert {b.digest for b in into_dist + into_source} == {clean.digest}


def test_refuses_a_symlink_and_writes_nothing(source: Path, tmp_path: Path) -> None:
    (source / "docs" / "passwd.md").symlink_to("/etc/passwd")
    out = tmp_path / "out"

    with pytest.raises(PackageRefused) as caught:
        build_package(source, out_dir=out, limits=LIMITS)

    assert caught.value.code == "symlink"
    assert "docs/passwd.md" in caught.value.reason
    assert not out.exists()


def test_refuses_a_symlinked_folder(source: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (source / "templates" / "linked").symlink_to(tmp_path / "outside")

    with pytest.raises(PackageRefused) as caught:
        build_package(source, out_dir=tmp_path / "out", limits=LIMITS)

    assert caught.value.code == "symlink"


def test_refuses_a_fifo(source: Path, tmp_path: Path) -> None:
    os.mkfifo(source / "docs" / "pipe")

    with pytest.raises(PackageRefused) as caught:
        build_package(source, out_dir=tmp_path / "out", limits=LIMITS)

    assert caught.value.code == "special_file"
    assert "docs/pipe" in caught.value.reason


def test_refuses_an_invalid_package_and_writes_nothing(tmp_path: Path) -> None:
    source = write_source(tmp_path / "src", {"templates/api/broken.yaml": "x: {{ values.x \n"})
    out = tmp_path / "out"

    with pytest.raises(PackageRefused) as caught:
        build_package(source, out_dir=out, limits=LIMITS)

    assert caught.value.code == "template_syntax"
    assert not out.exists()


def test_refuses_a_big_file_before_reading_it(source: Path, tmp_path: Path) -> None:
    with open(source / "big.bin", "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: costs no disk

    with pytest.raises(PackageRefused) as caught:
        build_package(source, out_dir=tmp_path / "out", limits=LIMITS)

    assert caught.value.code == "too_large"
    assert "big.bin" in caught.value.reason


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda root: None, "source_invalid"),
        (lambda root: root.mkdir(), "source_invalid"),
        (lambda root: write_source(root, {"manifest.yaml": "name: [\n"}), "manifest_yaml"),
    ],
)
def test_refuses_a_folder_that_is_not_a_package_source(
    tmp_path: Path, setup: object, code: str
) -> None:
    root = tmp_path / "src"
    setup(root)  # type: ignore[operator]

    with pytest.raises(PackageRefused) as caught:
        build_package(root, out_dir=tmp_path / "out", limits=LIMITS)

    assert caught.value.code == code


def test_prepare_hook_sees_every_file_and_chooses_what_is_packed(
    source: Path, tmp_path: Path
) -> None:
    (source / "templates" / "api" / "configmap.yaml.tpl").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ instance.name }}-mirror\n"
        "data:\n  pip: ${PYTHON_PIP}\n"
    )
    seen: list[str] = []

    def render_tpl(files: list[SourceFile]) -> list[SourceFile]:
        seen.extend(f.path for f in files)
        return [
            SourceFile(
                f.path.removesuffix(".tpl"),
                f.data.replace(b"${PYTHON_PIP}", b"https://mirror.example/pypi"),
                f.executable,
            )
            for f in files
        ]

    built = build_package(source, out_dir=tmp_path / "out", prepare=render_tpl, limits=LIMITS)

    assert seen == sorted(seen) and "templates/api/configmap.yaml.tpl" in seen
    assert b"mirror.example" in built.package.files["templates/api/configmap.yaml"]
    assert "templates/api/configmap.yaml.tpl" not in built.package.files


# ------------------------------------------------------------------ the command


def test_command_prints_path_and_digest(source: Path, tmp_path: Path) -> None:
    out = io.StringIO()

    call_command("package_build", str(source), "-o", str(tmp_path / "out"), stdout=out)

    path, digest = out.getvalue().splitlines()
    assert Path(path) == tmp_path / "out" / "log-analyzer-1.4.2.tgz"
    assert digest == "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_command_writes_into_the_current_folder_by_default(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    call_command("package_build", str(source), stdout=io.StringIO())

    assert (workdir / "log-analyzer-1.4.2.tgz").is_file()


def test_command_refuses_a_symlinked_source_and_writes_nothing(
    source: Path, tmp_path: Path
) -> None:
    (source / "README.md").unlink()
    (source / "README.md").symlink_to("/etc/hostname")
    out = tmp_path / "out"

    with pytest.raises(CommandError) as caught:
        call_command("package_build", str(source), "-o", str(out), stdout=io.StringIO())

    assert caught.value.returncode == 1
    assert "symlink" in str(caught.value) and "README.md" in str(caught.value)
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.django_db
def test_command_refuses_an_unknown_profile(source: Path, tmp_path: Path) -> None:
    # --profile and --strict themselves are tested in tests/builds/test_cli.py.
    with pytest.raises(CommandError, match="no resource profile named intranet") as caught:
        call_command(
            "package_build", str(source), "-o", str(tmp_path / "out"), "--profile", "intranet"
        )

    assert caught.value.returncode == 1
    assert not (tmp_path / "out").exists()


def test_manage_py_exits_1_with_the_reason_on_stderr(source: Path, tmp_path: Path) -> None:
    os.mkfifo(source / "pipe")
    env = {**os.environ, "PORTAL_DATA_DIR": str(tmp_path / "var")}

    result = subprocess.run(
        [sys.executable, "manage.py", "package_build", str(source), "-o", str(tmp_path / "out")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert "special_file" in result.stderr and "pipe" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_gzip_stream_of_a_build_is_a_single_member(source: Path, tmp_path: Path) -> None:
    built = build_package(source, out_dir=tmp_path, limits=LIMITS)

    assert gzip.decompress(built.path.read_bytes())[-1024:] == bytes(1024)
