from __future__ import annotations

import itertools

import pytest

from market.semver import (
    InvalidRange,
    InvalidVersion,
    Range,
    Version,
    max_satisfying,
    parse_range,
    parse_version,
)


def test_parse_version_reads_every_part() -> None:
    version = parse_version("1.4.2-rc.1+build.5")

    assert version == Version(1, 4, 2, ("rc", "1"), ("build", "5"))
    assert str(version) == "1.4.2-rc.1+build.5"
    assert version.is_prerelease


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1.2", "three parts"),
        ("1.2.3.4", "three parts"),
        ("01.2.3", "leading zeros"),
        ("1.02.3", "leading zeros"),
        ("1.2.03", "leading zeros"),
        ("1.2.3-beta.01", "leading zeros"),
        ("v1.2.3", "leading 'v'"),
        ("=1.2.3", "leading 'v'"),
        (" 1.2.3", "whitespace"),
        ("1.2.3\n", "whitespace"),
        ("1.2.3-", "strict SemVer"),
        ("1.2.3+", "strict SemVer"),
        ("1.2.3-a..b", "strict SemVer"),
        ("1.2.3+a..b", "strict SemVer"),
        ("1.2.x", "strict SemVer"),
        ("\u0661.2.3", "strict SemVer"),  # ARABIC-INDIC DIGIT ONE
        ("", "empty"),
    ],
)
def test_parse_version_refuses_non_strict_semver_and_says_why(text: str, why: str) -> None:
    with pytest.raises(InvalidVersion) as caught:
        parse_version(text)

    message = str(caught.value)
    assert why in message
    assert "\n" not in message


def test_parse_version_refuses_non_strings_and_huge_input() -> None:
    with pytest.raises(InvalidVersion, match="must be a string"):
        parse_version(1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidVersion, match="longer than"):
        parse_version("1.2.3-" + "a" * 500)


def test_precedence_follows_the_semver_spec_example() -> None:
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.1",
        "1.1.0",
        "2.0.0",
        "10.0.0",
    ]
    shuffled = ordered[::-1][3:] + ordered[::-1][:3]

    assert [str(v) for v in sorted(parse_version(s) for s in shuffled)] == ordered
    for lower, higher in itertools.pairwise(ordered):
        assert parse_version(lower) < parse_version(higher)
        assert parse_version(higher) > parse_version(lower)


def test_numeric_identifiers_sort_numerically_and_below_alphanumeric() -> None:
    assert parse_version("1.0.0-2") < parse_version("1.0.0-10")
    assert parse_version("1.0.0-10") < parse_version("1.0.0-a")
    assert parse_version("1.0.0-alpha") < parse_version("1.0.0-alpha.0")


def test_build_metadata_is_ignored_in_precedence_but_not_in_equality() -> None:
    a, b = parse_version("1.0.0+a"), parse_version("1.0.0+b")

    assert a.precedence == b.precedence
    assert a <= b and a >= b
    assert not a < b and not b < a
    assert a != b
    assert len({a, b, parse_version("1.0.0+a")}) == 2
    assert parse_version("1.0.0-rc.1+zzz") < parse_version("1.0.0+aaa")


def test_max_of_versions_picks_the_highest_precedence() -> None:
    versions = [parse_version(s) for s in ["1.9.0", "1.10.0", "1.10.0-rc.1", "1.2.0"]]

    assert str(max(versions)) == "1.10.0"


@pytest.mark.parametrize(
    ("text", "inside", "outside"),
    [
        ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0", "2.0.0-rc.1"]),
        # ^0.x quirks: below 1.0.0 the caret pins the first non-zero part.
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2", "1.0.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4", "0.1.0"]),
        ("^0.x", ["0.0.1", "0.9.9"], ["1.0.0"]),
        ("^0", ["0.5.0"], ["1.0.0"]),
        ("~1.2.3", ["1.2.3", "1.2.99"], ["1.3.0", "1.2.2"]),
        ("~1.2", ["1.2.0", "1.2.5"], ["1.3.0"]),
        ("1.x", ["1.0.0", "1.99.0"], ["2.0.0", "0.9.0"]),
        ("1.2.x", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("*", ["0.0.1", "99.0.0"], ["1.0.0-beta"]),
        ("1.2.3 - 2.3.4", ["1.2.3", "2.3.4"], ["2.3.5", "1.2.2"]),
        (">=1.2.0 <2.0.0", ["1.2.0", "1.99.99"], ["2.0.0", "1.1.9"]),
        ("^1.2 || ^3.0.0", ["1.5.0", "3.1.0"], ["2.0.0", "4.0.0"]),
        # npm prerelease rule: only prereleases of a version a comparator names.
        (">=1.3.0-alpha <2.0.0", ["1.3.0-beta", "1.5.0"], ["1.4.0-beta"]),
    ],
)
def test_range_matches_npm_semantics(text: str, inside: list[str], outside: list[str]) -> None:
    wanted = parse_range(text)

    assert [v for v in inside if wanted.matches(v)] == inside
    assert [v for v in outside if wanted.matches(parse_version(v))] == []


def test_range_normalizes_and_compares_by_meaning() -> None:
    assert parse_range("^1.2.3").normalized == ">=1.2.3 <2.0.0"
    assert parse_range("^1.2.3") == parse_range(">=1.2.3 <2.0.0")
    assert str(parse_range(" ^1.2.3 ")) == "^1.2.3"
    assert parse_range("*").normalized == "*"
    assert isinstance(parse_range("1.x"), Range)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("^1.2.3 ||", "empty alternative"),
        ("|| 1.x", "empty alternative"),
        ("foo", "Invalid comparator"),
        (">=01.2.3", "Invalid comparator"),
        ("1.2.3 banana", "Invalid comparator"),
        (">=1.2.3 <", "Invalid comparator"),
        ("^1.2.3\n", "printable"),
        ("x" * 300, "longer than"),
    ],
)
def test_parse_range_refuses_bad_ranges_on_one_line(text: str, why: str) -> None:
    with pytest.raises(InvalidRange) as caught:
        parse_range(text)

    assert why in str(caught.value)
    assert "\n" not in str(caught.value)


def test_range_matches_parses_strings_strictly() -> None:
    with pytest.raises(InvalidVersion):
        parse_range("^1.0.0").matches("1.2")


def test_max_satisfying_picks_the_highest_matching_version() -> None:
    versions = ["1.2.0", "1.9.9", "1.10.0", "2.0.0", "1.11.0-beta", "not-a-version"]

    assert max_satisfying(versions, ">=1.2.0 <2.0.0") == parse_version("1.10.0")
    assert max_satisfying(versions, parse_range("^2")) == parse_version("2.0.0")
    assert max_satisfying(versions, "^3") is None
    assert max_satisfying([parse_version("0.2.5"), parse_version("0.3.0")], "^0.2.0") == (
        parse_version("0.2.5")
    )
