"""Release notes cut from a CHANGELOG.md: the sections between two versions, and the
hostile cases (no headings, a huge file, HTML and script in it)."""

from __future__ import annotations

from pathlib import Path

from market.changelog import (
    MAX_NOTES_CHARS,
    MAX_SCAN_CHARS,
    changelog_sections,
    release_notes,
)
from market.prose import render_markdown

CHANGELOG = """\
# Changelog

All notable changes. Dates are UTC.

## [Unreleased]

- Something not released yet.

## [2.0.0] - 2024-06-01

### Breaking

- `maxmemory` moved to `config.maxmemory`.

```markdown
## 9.9.9 inside a code block is not a heading
```

## v1.3.0 (2024-03-02)

- Exporter sidecar.

### 1.2.1

- A patch written one level down.

## 1.2.0

- First release.
"""


def test_sections_are_found_by_their_version_headings_in_file_order() -> None:
    sections = changelog_sections(CHANGELOG)

    assert [str(s.version) for s in sections] == ["2.0.0", "1.3.0", "1.2.1", "1.2.0"]
    breaking = sections[0].text
    # A subheading stays in its section; a fenced "## 9.9.9" is text; "Unreleased" is out.
    assert breaking.startswith("## [2.0.0] - 2024-06-01\n") and "### Breaking" in breaking
    assert "## 9.9.9 inside a code block" in breaking
    assert "Unreleased" not in "".join(s.text for s in sections)
    assert "Exporter sidecar" in sections[1].text and "A patch" not in sections[1].text


def test_the_notes_are_the_sections_after_the_current_version_up_to_the_target() -> None:
    notes = release_notes(CHANGELOG, current="1.2.0", target="2.0.0")

    assert notes.versions == ["2.0.0", "1.3.0", "1.2.1"]
    assert not notes.whole and not notes.truncated
    assert "config.maxmemory" in notes.markdown and "First release" not in notes.markdown
    assert notes.markdown.index("2.0.0") < notes.markdown.index("1.3.0")


def test_an_upgrade_to_a_version_between_leaves_out_the_newer_sections() -> None:
    notes = release_notes(CHANGELOG, current="1.2.1", target="1.3.0")

    assert notes.versions == ["1.3.0"]
    assert "maxmemory" not in notes.markdown


def test_a_changelog_without_the_range_gives_empty_notes() -> None:
    notes = release_notes(CHANGELOG, current="2.0.0", target="2.1.0")

    assert notes.markdown == "" and notes.versions == [] and not notes.whole


def test_a_changelog_without_version_headings_is_shown_whole() -> None:
    text = "# What changed\n\nEverything, again.\n\n## Older\n\nLess.\n"

    notes = release_notes(text, current="1.0.0", target="2.0.0")

    assert notes.whole and notes.markdown == text and not notes.truncated


def test_headings_that_only_look_like_versions_start_no_section() -> None:
    text = "## 1.2\n\nnot semver\n\n## 01.2.3\n\nleading zero\n\n##1.2.3\n\nno space\n"

    assert changelog_sections(text) == []
    assert release_notes(text, current="1.0.0", target="2.0.0").whole


def test_a_huge_changelog_is_cut_at_the_limit_on_a_line_break() -> None:
    line = "- " + "x" * 98 + "\n"
    text = "## 2.0.0\n\n" + line * (MAX_SCAN_CHARS // len(line) + 1000) + "## 1.0.0\n\n- old\n"

    notes = release_notes(text, current="1.0.0", target="2.0.0")

    assert notes.truncated and notes.versions == ["2.0.0"]
    assert len(notes.markdown) <= MAX_NOTES_CHARS and notes.markdown.endswith("\n")
    whole = release_notes(line * (MAX_SCAN_CHARS // 50), current="1.0.0", target="2.0.0")
    assert whole.whole and whole.truncated and len(whole.markdown) <= MAX_NOTES_CHARS


def test_many_sections_in_the_range_stop_at_the_limit() -> None:
    body = "- change\n" * 400
    text = "".join(f"## 1.{n}.0\n\n{body}\n" for n in range(200, 0, -1))

    notes = release_notes(text, current="1.0.0", target="1.200.0")

    assert notes.truncated and notes.versions[0] == "1.200.0"
    assert len(notes.markdown) <= MAX_NOTES_CHARS
    assert len(notes.versions) < 200


def test_a_pathological_heading_line_is_not_a_version() -> None:
    text = "## " + "1." * 50_000 + "\n\n" + "#" * 100_000 + " 1.0.0\n"

    assert changelog_sections(text) == []


def test_html_and_script_in_the_notes_are_escaped_or_dropped_when_rendered() -> None:
    text = (
        "## 2.0.0\n\n"
        '<script>alert("x")</script>\n\n'
        '<img src="https://tracker.example.com/p.gif" onerror="alert(1)">\n\n'
        '[click](javascript:alert(1)) and <b onclick="alert(2)">bold</b>\n\n'
        "<iframe src=https://example.com></iframe>\n"
    )

    notes = release_notes(text, current="1.0.0", target="2.0.0")
    html = str(render_markdown(notes.markdown))

    assert notes.versions == ["2.0.0"]
    assert "<script" not in html and "alert(" not in html
    assert "<img" not in html and "onerror" not in html and "onclick" not in html
    assert "javascript:" not in html and "<iframe" not in html
    assert "<b>bold</b>" in html


def test_an_unparseable_current_version_gives_empty_notes_not_an_error() -> None:
    assert release_notes(CHANGELOG, current="latest", target="2.0.0").markdown == ""


def test_the_demo_changelogs_give_the_notes_of_their_upgrades() -> None:
    apps = Path(__file__).resolve().parents[2] / "market" / "demo" / "apps"
    redis = (apps / "redis-ops" / "2.0.0" / "CHANGELOG.md").read_text(encoding="utf-8")
    collector = (apps / "log-collector" / "1.2.0" / "CHANGELOG.md").read_text(encoding="utf-8")

    major = release_notes(redis, current="1.2.0", target="2.0.0")
    minor = release_notes(collector, current="1.1.0", target="1.2.0")

    assert major.versions == ["2.0.0", "1.3.0"] and "config.maxmemory" in major.markdown
    assert minor.versions == ["1.2.0"] and "filters.dropPatterns" in minor.markdown
