"""read_package: every refusal of SPEC section 2, on archives built to break it."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest

from market.package import Limits, PackageRefused, read_package
from market.package.errors import REFUSAL_CODES
from tests.market import archives
from tests.market.archives import (
    NAME,
    archive,
    blockdev,
    chardev,
    directory,
    fifo,
    file,
    hardlink,
    manifest_text,
    package_archive,
    package_members,
    symlink,
    tar_bytes,
)

LIMITS = Limits()
ROOT = Path(__file__).resolve().parents[2]


def refusal(data: bytes, *, filename: str | None = None, limits: Limits = LIMITS) -> PackageRefused:
    with pytest.raises(PackageRefused) as caught:
        read_package(data, filename=filename, limits=limits)
    refused = caught.value
    assert refused.code in REFUSAL_CODES
    assert refused.reason and "\n" not in refused.reason
    return refused


def with_extra(*members: archives.Member, **kwargs: object) -> bytes:
    return archive([*package_members(**kwargs), *members])  # type: ignore[arg-type]


# ------------------------------------------------------------------ a valid package


def test_reads_every_part_of_a_valid_package() -> None:
    data = package_archive(files={"icon.svg": '<svg xmlns="http://www.w3.org/2000/svg"/>'})

    package = read_package(data, filename="log-analyzer-1.4.2.tgz", limits=LIMITS)

    assert (package.name, package.version) == ("log-analyzer", "1.4.2")
    assert package.manifest.title == "Log Analyzer"
    assert [(d.name, d.range.normalized) for d in package.manifest.dependencies] == [
        ("redis-ops", ">=1.2.0 <2.0.0")
    ]
    assert package.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert package.size == len(data)
    assert package.readme is not None and package.readme.startswith("# Log Analyzer")
    assert package.docs == {"docs/operations.md": "# Operations\n"}
    assert package.values == {"replicas": 2, "database": {"host": "db"}}
    assert package.values_schema is not None and package.values_schema["type"] == "object"
    assert list(package.templates) == ["templates/api/deployment.yaml"]
    assert package.rendered_templates == ["templates/api/deployment.yaml"]
    assert package.icon is not None and package.icon.name == "icon.svg"
    assert package.icon.content_type == "image/svg+xml"
    assert package.secret_paths() == ["database.password"]
    assert set(package.files) == {
        "manifest.yaml",
        "README.md",
        "docs/operations.md",
        "values.yaml",
        "values.schema.json",
        "templates/api/deployment.yaml",
        "icon.svg",
    }
    assert package.manifest_data["dependencies"] == [
        {"name": "redis-ops", "version": ">=1.2.0 <2.0.0"}
    ]
    json.dumps(package.manifest_data)  # index.json stores it as JSON


def test_file_name_may_carry_a_directory() -> None:
    package = read_package(
        package_archive(), filename="apps/log-analyzer/log-analyzer-1.4.2.tgz", limits=LIMITS
    )

    assert package.name == NAME


def test_limits_come_from_django_settings(settings: object) -> None:
    settings.PACKAGE_MAX_MEMBERS = 3  # type: ignore[attr-defined]

    assert Limits.from_settings().max_members == 3
    assert refusal(package_archive(), limits=Limits.from_settings()).code == "too_many_members"


def test_reader_works_without_django_configured(tmp_path: Path) -> None:
    path = tmp_path / "log-analyzer-1.4.2.tgz"
    path.write_bytes(package_archive())
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    script = (
        "import sys; from pathlib import Path\n"
        "from market.package import read_package, Limits\n"
        "p = read_package(Path(sys.argv[1]).read_bytes(), filename=Path(sys.argv[1]).name)\n"
        "print(p.name, p.version, Limits.from_settings() == Limits())\n"
        "import django.conf\n"
        "print(django.conf.settings.configured)\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["log-analyzer", "1.4.2", "True", "False"]


# ------------------------------------------------------------------ member types


@pytest.mark.parametrize(
    ("member", "code"),
    [
        (symlink(f"{NAME}/link", "/etc/passwd"), "symlink"),
        (symlink(f"{NAME}/rel", "README.md"), "symlink"),
        (hardlink(f"{NAME}/hard", f"{NAME}/README.md"), "hardlink"),
        (chardev(f"{NAME}/null"), "device"),
        (blockdev(f"{NAME}/sda"), "device"),
        (fifo(f"{NAME}/pipe"), "fifo"),
    ],
)
def test_refuses_members_that_are_not_regular_files_or_directories(
    member: archives.Member, code: str
) -> None:
    refused = refusal(with_extra(member))

    assert refused.code == code
    assert member.name in refused.reason


# ------------------------------------------------------------------ member paths


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("/etc/passwd", "absolute_path"),
        ("/log-analyzer/evil.yaml", "absolute_path"),
        ("C:/evil.yaml", "absolute_path"),
        ("log-analyzer/../evil.yaml", "traversal"),
        ("log-analyzer/templates/../../evil.yaml", "traversal"),
        ("../evil.yaml", "traversal"),
        ("other-app/evil.yaml", "outside_root"),
        ("log-analyzer-2/evil.yaml", "outside_root"),
        ("log-analyzer/./evil.yaml", "bad_path"),
        ("log-analyzer//evil.yaml", "bad_path"),
        ("log-analyzer/evil\\..\\x.yaml", "bad_path"),
        ("log-analyzer/evil\nname.yaml", "bad_path"),
    ],
)
def test_refuses_paths_that_leave_the_package_folder(name: str, code: str) -> None:
    assert refusal(with_extra(file(name, "x"))).code == code


def test_a_file_named_like_the_package_folder_is_outside_it() -> None:
    refused = refusal(archive([file(NAME, "x"), *package_members()[1:]]))

    assert refused.code == "outside_root"


def test_the_first_member_decides_the_folder() -> None:
    members = package_members()
    refused = refusal(archive([file("evil/first.txt", "x"), *members]))

    assert refused.code == "outside_root"
    assert "log-analyzer" in refused.reason


def test_refuses_a_member_name_that_repeats() -> None:
    refused = refusal(with_extra(file(f"{NAME}/README.md", "# second readme")))

    assert refused.code == "duplicate_member"
    assert "README.md" in refused.reason


def test_refuses_a_repeated_directory() -> None:
    assert refusal(with_extra(directory(NAME))).code == "duplicate_member"


def test_refuses_a_path_that_is_both_file_and_directory() -> None:
    members = [*package_members(), file(f"{NAME}/conf", "x"), file(f"{NAME}/conf/inner", "y")]

    assert refusal(archive(members)).code == "path_conflict"


# ------------------------------------------------------------------ counts and sizes


def test_refuses_more_than_the_member_limit() -> None:
    extra = [file(f"{NAME}/data/f{i:04}.txt", "x") for i in range(1000)]

    refused = refusal(with_extra(*extra))

    assert refused.code == "too_many_members"
    assert "1000" in refused.reason


def test_refuses_a_file_over_the_file_limit() -> None:
    limits = Limits(max_file_bytes=4096)

    refused = refusal(with_extra(file(f"{NAME}/big.bin", os.urandom(5000))), limits=limits)

    assert refused.code == "too_large"
    assert "big.bin" in refused.reason


def test_refuses_more_than_the_total_limit() -> None:
    limits = Limits(max_total_bytes=20_000, max_file_bytes=10_000)
    extra = [file(f"{NAME}/part{i}.bin", os.urandom(8000)) for i in range(3)]

    assert refusal(with_extra(*extra), limits=limits).code == "too_large"


def _measure(data: bytes, limits: Limits = LIMITS) -> tuple[PackageRefused, float, int]:
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(PackageRefused) as caught:
            read_package(data, limits=limits)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return caught.value, elapsed, peak


def test_a_member_declaring_a_gigabyte_is_refused_from_its_header() -> None:
    data = archives.declared_huge(1024**3)

    refused, elapsed, peak = _measure(data)

    assert refused.code == "too_large"
    assert "huge.bin" in refused.reason and "1073741824" in refused.reason
    assert elapsed < 2
    assert peak < 5 * archives.MiB


def test_a_declared_gigabyte_within_raised_size_limits_still_breaks_the_ratio() -> None:
    limits = Limits(max_file_bytes=2 * 1024**3, max_total_bytes=2 * 1024**3)

    refused, _, peak = _measure(archives.declared_huge(1024**3), limits)

    assert refused.code == "ratio"
    assert peak < 5 * archives.MiB


def test_a_zip_bomb_is_refused_without_inflating_it() -> None:
    data = archives.zero_bomb()  # 200 MiB of zeros in 10 MiB files
    assert len(data) < 300 * 1024

    refused, elapsed, peak = _measure(data)

    assert refused.code == "ratio"
    assert "100" in refused.reason
    assert elapsed < 10
    assert peak < 30 * archives.MiB


def test_the_ratio_is_counted_on_inflated_bytes_not_headers() -> None:
    # A pax header is inflated inside tarfile and never shows up as a member with a
    # size to check: only counting the inflated stream catches it.
    refused, _, peak = _measure(archives.pax_header_bomb(50 * archives.MiB))

    assert refused.code == "ratio"
    assert peak < 30 * archives.MiB


def test_zero_padding_after_the_end_marker_counts_too() -> None:
    refused, _, peak = _measure(archives.padding_bomb(50 * archives.MiB))

    assert refused.code == "ratio"
    assert peak < 10 * archives.MiB


def test_small_archives_are_not_held_to_the_ratio() -> None:
    # Tar pads every archive to 10 KiB of mostly zeros; a tiny package compresses far
    # better than 100:1 without being a bomb.
    data = archive(
        [
            directory(NAME),
            file(f"{NAME}/manifest.yaml", manifest_text(dependencies=None, components=None)),
        ]
    )

    assert read_package(data, limits=Limits(max_ratio=2)).name == NAME


# ------------------------------------------------------------------ gzip and tar framing


def test_refuses_a_truncated_gzip_stream() -> None:
    data = package_archive()

    for cut in (4, 40, len(data) // 2):
        assert refusal(data[:-cut]).code == "truncated"


def test_refuses_bytes_after_the_gzip_stream() -> None:
    refused = refusal(package_archive() + b"hello")

    assert refused.code == "trailing_garbage"


def test_refuses_a_second_gzip_member() -> None:
    data = package_archive() + gzip.compress(b"more", mtime=0)

    assert refusal(data).code == "trailing_garbage"


def test_refuses_data_after_the_tar_end_marker() -> None:
    raw = tar_bytes(package_members()) + b"smuggled" + bytes(1024)

    assert refusal(gzip.compress(raw, mtime=0)).code == "trailing_garbage"


def test_refuses_a_tar_without_its_end_marker() -> None:
    data = archive(package_members(), end_marker=False)

    assert refusal(data).code == "truncated"


def test_refuses_a_tar_cut_inside_a_member() -> None:
    raw = tar_bytes(package_members())
    cut = gzip.compress(raw[: len(raw) // 2 + 100], mtime=0)

    assert refusal(cut).code == "truncated"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a gzip stream at all",
        tar_bytes(package_members()),  # an uncompressed tar
    ],
)
def test_refuses_what_is_not_gzip(data: bytes) -> None:
    assert refusal(data).code == "not_gzip"


def test_refuses_a_gzip_stream_with_a_bad_checksum() -> None:
    data = bytearray(package_archive())
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer

    assert refusal(bytes(data)).code == "not_gzip"


def test_refuses_a_gzip_of_something_that_is_not_tar() -> None:
    assert refusal(gzip.compress(b"x" * 2000, mtime=0)).code in {"tar_invalid", "truncated"}


def test_an_empty_tar_has_no_manifest() -> None:
    assert refusal(archive([])).code == "manifest_missing"


# ------------------------------------------------------------------ the manifest


def test_refuses_a_package_without_manifest() -> None:
    refused = refusal(package_archive(files={"manifest.yaml": None}))

    assert refused.code == "manifest_missing"
    assert "log-analyzer/manifest.yaml" in refused.reason


@pytest.mark.parametrize(
    ("manifest", "code", "words"),
    [
        (manifest_text() + "extra: &anchor {a: 1}\nmore: *anchor\n", "manifest_yaml", "anchors"),
        (manifest_text() + "extra: !foo bar\n", "manifest_yaml", "tag !foo"),
        (
            manifest_text() + "extra: !!python/object:os.system {}\n",
            "manifest_yaml",
            "tag !!python/object:os.system",
        ),
        (
            manifest_text() + "extra: !!python/object/apply:os.system [ls]\n",
            "manifest_yaml",
            "tag !!python/object/apply:os.system",
        ),
        (manifest_text() + "title: Another title\n", "manifest_yaml", "duplicate key 'title'"),
        (manifest_text() + "x: [unclosed\n", "manifest_yaml", "line"),
        (manifest_text(version=None) + "version: 1.0\n", "manifest_field", "YAML string"),
        (manifest_text(version=None) + "version: 1\n", "manifest_field", "YAML string"),
        (manifest_text(name=None) + "name: 12345\n", "manifest_field", "YAML string"),
        (manifest_text(version="1.2"), "manifest_field", "three parts"),
        (manifest_text(version="01.2.3"), "manifest_field", "leading zeros"),
        (manifest_text(summary="x" * 201), "manifest_field", "at most 200"),
        (manifest_text(colour="blue"), "manifest_field", "unknown key"),
        ("- just\n- a list\n", "manifest_field", "must be a mapping"),
        ("", "manifest_field", "must be a mapping"),
    ],
)
def test_refuses_unsafe_or_invalid_manifests(manifest: str, code: str, words: str) -> None:
    refused = refusal(package_archive(manifest=manifest))

    assert refused.code == code
    assert words in refused.reason


def test_an_unquoted_dotted_version_is_a_string() -> None:
    manifest = manifest_text(version=None) + "version: 1.4.2\n"

    assert read_package(package_archive(manifest=manifest), limits=LIMITS).version == "1.4.2"


def test_refuses_a_manifest_name_that_is_not_the_folder() -> None:
    refused = refusal(package_archive(root="log-analyser"))

    assert refused.code == "name_mismatch"
    assert "log-analyser" in refused.reason


@pytest.mark.parametrize(
    "filename",
    ["log-analyzer-1.4.3.tgz", "log-analyser-1.4.2.tgz", "log-analyzer-1.4.2.tar.gz", "x.tgz"],
)
def test_refuses_a_file_name_that_disagrees_with_the_manifest(filename: str) -> None:
    refused = refusal(package_archive(), filename=filename)

    assert refused.code == "filename_mismatch"
    assert "log-analyzer-1.4.2.tgz" in refused.reason


def test_refuses_a_component_whose_globs_match_nothing() -> None:
    manifest = manifest_text(
        components=[{"name": "worker", "templates": ["templates/worker/*.yaml"]}]
    )

    refused = refusal(package_archive(manifest=manifest))

    assert refused.code == "component_empty"
    assert "worker" in refused.reason


# ------------------------------------------------------------------ values and schema


def test_refuses_default_values_that_fail_the_schema() -> None:
    refused = refusal(package_archive(files={"values.yaml": "replicas: zero\n"}))

    assert refused.code == "values_schema"
    assert "replicas" in refused.reason and "integer" in refused.reason


def test_defaults_may_leave_required_values_to_the_user() -> None:
    schema = (
        '{"type": "object", "required": ["password"],'
        ' "properties": {"password": {"type": "string", "writeOnly": true}}}'
    )

    package = read_package(
        package_archive(files={"values.schema.json": schema, "values.yaml": "{}\n"}),
        limits=LIMITS,
    )

    assert package.secret_paths() == ["password"]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ("a: &x 1\nb: *x\n", "anchors"),
        ("a: !!python/name:os.system\n", "tag"),
        ("a: 1\na: 2\n", "duplicate key"),
        ("- a list\n", "mapping"),
        ("a: [\n", "line 2"),
    ],
)
def test_refuses_unsafe_values_yaml(values: str, words: str) -> None:
    refused = refusal(package_archive(files={"values.yaml": values, "values.schema.json": None}))

    assert refused.code == "values_yaml"
    assert words in refused.reason


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"type": "object", "type": "array"}', "duplicate key"),
        ("[1, 2]", "JSON object"),
        ('{"type": 5}', "not a valid JSON Schema"),
        ('{"$ref": "https://attacker.example/schema.json"}', "outside the schema"),
        ('{"$ref": "#/$defs/missing"}', "does not define"),
        ('{"$schema": "http://json-schema.org/draft-07/schema#"}', "2020-12"),
        ('{"minimum": NaN}', "not valid JSON"),
    ],
)
def test_refuses_an_invalid_values_schema(schema: str, words: str) -> None:
    refused = refusal(package_archive(files={"values.schema.json": schema}))

    assert refused.code == "values_schema_invalid"
    assert words in refused.reason


# ------------------------------------------------------------------ templates, text, icon


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("kind: ConfigMap\ndata:\n  x: {{ values.x \n", "line 3"),
        ("{% if values.x %}\nkind: ConfigMap\n", "endif"),
        ("{{ values.x | no_such_filter }}\n", "no_such_filter"),
        ("{% for %}\n", "line 1"),
    ],
)
def test_refuses_a_template_that_does_not_parse(template: str, words: str) -> None:
    refused = refusal(package_archive(files={"templates/api/broken.yaml": template}))

    assert refused.code == "template_syntax"
    assert "templates/api/broken.yaml" in refused.reason
    assert words in refused.reason


def test_partials_are_parsed_too() -> None:
    files = {"templates/_helpers.j2": "{% macro labels() %}\n"}

    assert refusal(package_archive(files=files)).code == "template_syntax"


@pytest.mark.parametrize(
    "path", ["README.md", "docs/operations.md", "templates/api/deployment.yaml"]
)
def test_refuses_text_that_is_not_utf8(path: str) -> None:
    refused = refusal(package_archive(files={path: b"caf\xe9\n"}))

    assert refused.code == "encoding"
    assert path in refused.reason


def test_other_files_may_be_binary() -> None:
    package = read_package(
        package_archive(files={"files/blob.bin": b"\xff\x00\xfe", "docs/diagram.png": b"\x89"}),
        limits=LIMITS,
    )

    assert package.files["files/blob.bin"] == b"\xff\x00\xfe"
    assert "docs/diagram.png" not in package.docs


def test_refuses_an_icon_over_256_kib() -> None:
    icon = b"\x89PNG\r\n\x1a\n" + os.urandom(256 * 1024)

    refused = refusal(package_archive(files={"icon.png": icon}))

    assert refused.code == "icon_too_large"
    assert "icon.png" in refused.reason


def test_refuses_an_icon_that_is_not_what_it_says() -> None:
    assert refusal(package_archive(files={"icon.png": b"GIF89a"})).code == "icon_invalid"
    assert refusal(package_archive(files={"icon.svg": "<html/>"})).code == "icon_invalid"


def test_every_refusal_code_has_a_meaning() -> None:
    assert all(isinstance(text, str) and text for text in REFUSAL_CODES.values())
    with pytest.raises(ValueError, match="unknown refusal code"):
        PackageRefused("no_such_code", "x")


def test_tarfile_members_are_never_extracted(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reader must not extract to disk")

    monkeypatch.setattr(tarfile.TarFile, "extractall", forbidden)
    monkeypatch.setattr(tarfile.TarFile, "extract", forbidden)

    assert read_package(package_archive(), limits=LIMITS).name == NAME
