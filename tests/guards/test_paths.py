"""The one safe-relative-path rule (guards.paths), called once with hostile paths."""

from __future__ import annotations

import pytest

from guards.paths import UnsafePath, safe_relative_path, shown_path


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("", "bad_path"),
        ("/etc/passwd", "absolute_path"),
        ("/", "absolute_path"),
        ("C:/Windows/win.ini", "absolute_path"),
        ("c:evil.yaml", "absolute_path"),
        ("..", "traversal"),
        ("../etc/passwd", "traversal"),
        ("apps/../../etc/passwd", "traversal"),
        ("apps/x/..", "traversal"),
        ("apps\\..\\..\\etc\\passwd", "bad_path"),
        ("apps\\x", "bad_path"),
        ("apps/\x00x", "bad_path"),
        ("apps/x\n", "bad_path"),
        ("apps/x\r.yaml", "bad_path"),
        ("apps/\x1b[31mred", "bad_path"),
        ("apps/\x7f", "bad_path"),
        ("apps/zero\u200bwidth", "bad_path"),
        ("apps/\ud800", "bad_path"),
        ("apps//x", "bad_path"),
        ("apps/x/", "bad_path"),
        ("./market.json", "bad_path"),
        ("apps/./x", "bad_path"),
        (".", "bad_path"),
    ],
)
def test_hostile_paths_are_refused_with_the_telling_code(path: str, code: str) -> None:
    with pytest.raises(UnsafePath) as refused:
        safe_relative_path(path)

    assert refused.value.code == code
    if len(path) > 2:  # ("..": the reason says "path contains ..")
        assert path not in refused.value.reason  # the caller names the path, once


@pytest.mark.parametrize(
    "path",
    ["market.json", "apps/log-analyzer/index.json", "a/b c/d.yaml", "docs/café.md", "...x"],
)
def test_plain_relative_paths_pass_as_their_segments(path: str) -> None:
    assert safe_relative_path(path) == path.split("/")


def test_a_byte_limit_counts_utf8_bytes() -> None:
    assert safe_relative_path("é" * 512, max_bytes=1024) == ["é" * 512]
    with pytest.raises(UnsafePath, match="longer than 1024 bytes"):
        safe_relative_path("é" * 513, max_bytes=1024)


def test_a_non_string_is_refused() -> None:
    with pytest.raises(UnsafePath):
        safe_relative_path(None)  # type: ignore[arg-type]


def test_paths_shown_in_messages_are_one_escaped_line() -> None:
    assert shown_path("a/b\nc") == "a/b\\nc"
    assert len(shown_path("x" * 500)) == 120
