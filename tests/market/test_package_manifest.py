"""manifest.yaml field rules and the strict safe YAML loader."""

from __future__ import annotations

from typing import Any

import pytest

from market.package import PackageRefused, load_yaml, parse_manifest
from market.package.manifest import template_glob
from market.package.safe_yaml import SafeYamlError
from tests.market.archives import BASE_MANIFEST, manifest_text


def refused(text: str) -> PackageRefused:
    with pytest.raises(PackageRefused) as caught:
        parse_manifest(text)
    assert "\n" not in caught.value.reason
    return caught.value


def field_problem(**changes: Any) -> str:
    refusal = refused(manifest_text(**changes))
    assert refusal.code == "manifest_field"
    return refusal.reason


# ------------------------------------------------------------------ the safe loader


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: &x [1, 2]\nb: *x\n", "anchors (&x)"),
        ("a: *x\n", "aliases (*x)"),
        ("a: !foo bar\n", "tag !foo"),
        ("a: !!python/object:os.system {}\n", "tag !!python/object:os.system"),
        ("a: !!binary aGk=\n", "tag !!binary"),
        ("a: !!set {x}\n", "tag !!set"),
        ("a: !!timestamp 2024-01-01\n", "tag !!timestamp"),
        ("<<: {a: 1}\n", "merge keys"),
        ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'"),
        ("outer:\n  k: 1\n  k: 2\n", "duplicate key 'k'"),
        ("1: one\n", "keys must be strings"),
        ("true: yes\n", "keys must be strings"),
        ("x: .nan\n", "NaN"),
        ("x: -.inf\n", "NaN"),
        ("a: 1\n---\nb: 2\n", "single document"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "nested deeper"),
        (b"a: caf\xe9\n", "not UTF-8"),
    ],
)
def test_strict_loader_refuses_what_json_cannot_hold_or_hides_things(
    text: str | bytes, words: str
) -> None:
    with pytest.raises(SafeYamlError) as caught:
        load_yaml(text)

    assert words in str(caught.value)


def test_strict_loader_reports_the_line() -> None:
    with pytest.raises(SafeYamlError) as caught:
        load_yaml("a: 1\nb: 2\nc: &anchor 3\n")

    assert caught.value.line == 3
    assert (
        caught.value.describe("values.yaml")
        == "values.yaml line 3: anchors (&anchor) are not allowed"
    )


def test_strict_loader_keeps_plain_yaml_and_dates_as_strings() -> None:
    document = load_yaml(
        "\ufeffname: x\nversion: 1.4.2\nfloat: 1.0\nint: 3\nflag: true\nnothing: null\n"
        "date: 2024-01-01\nquoted: !!str 1.0\nlist: [a, {b: c}]\n"
    )

    assert document == {
        "name": "x",
        "version": "1.4.2",
        "float": 1.0,
        "int": 3,
        "flag": True,
        "nothing": None,
        "date": "2024-01-01",
        "quoted": "1.0",
        "list": ["a", {"b": "c"}],
    }


def test_strict_loader_does_not_change_the_shared_safe_loader() -> None:
    import yaml

    load_yaml("a: 1\n")

    assert yaml.safe_load("d: 2024-01-01\n")["d"].year == 2024


# ------------------------------------------------------------------ valid manifests


def test_parses_the_spec_example() -> None:
    manifest = parse_manifest(manifest_text(description="Longer text."))

    assert manifest.name == "log-analyzer"
    assert manifest.version == "1.4.2"
    assert str(manifest.semver) == "1.4.2"
    assert manifest.archive_name == "log-analyzer-1.4.2.tgz"
    assert manifest.keywords == ("logs", "alerting")
    assert manifest.maintainers[0].email == "ops@example.org"
    assert manifest.dependencies[0].range.matches("1.9.0")
    assert manifest.components[0].matches("templates/api/deployment.yaml")
    assert manifest.to_dict() == {
        **BASE_MANIFEST,
        "description": "Longer text.",
    }


def test_only_the_required_fields_are_needed() -> None:
    manifest = parse_manifest(
        "schema: 1\nname: tiny\nversion: 0.1.0\ntitle: Tiny\nsummary: Small\ncategory: misc\n"
    )

    assert (manifest.keywords, manifest.dependencies, manifest.components) == ((), (), ())
    assert manifest.to_dict()["homepage"] is None


def test_extension_keys_are_kept_not_interpreted() -> None:
    manifest = parse_manifest(manifest_text(**{"x-team": {"slack": "#ops"}}))

    assert manifest.extensions == {"x-team": {"slack": "#ops"}}
    assert manifest.to_dict()["x-team"] == {"slack": "#ops"}


def test_prerelease_and_build_versions_are_strict_semver() -> None:
    assert (
        parse_manifest(manifest_text(version="2.0.0-rc.1+git.abc")).version == "2.0.0-rc.1+git.abc"
    )


# ------------------------------------------------------------------ field rules


@pytest.mark.parametrize(
    "name", ["Log-Analyzer", "-log", "log-", "log_analyzer", "a" * 64, "", "log analyzer", "lög"]
)
def test_refuses_invalid_names(name: str) -> None:
    assert "name:" in field_problem(name=name)


@pytest.mark.parametrize("name", ["a", "a1", "log-analyzer", "0-x", "a" * 63])
def test_accepts_valid_names(name: str) -> None:
    assert parse_manifest(manifest_text(name=name, dependencies=None)).name == name


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"schema": 2}, "schema: must be 1"),
        ({"schema": True}, "schema: must be 1"),
        ({"title": None}, "title: is required"),
        ({"summary": "x" * 201}, "summary: must be at most 200 characters"),
        ({"summary": "two\nlines"}, "summary: must be one line"),
        ({"title": ["a"]}, "title: must be a string"),
        ({"category": "Observability"}, "not a slug"),
        ({"category": "ops tools"}, "not a slug"),
        ({"keywords": "logs"}, "keywords: must be a list"),
        ({"keywords": ["logs", 5]}, "keywords[1]: must be a string"),
        ({"keywords": ["k"] * 31}, "at most 30 keywords"),
        ({"homepage": "ftp://example.org"}, "not an http(s) URL"),
        ({"homepage": "javascript:alert(1)"}, "not an http(s) URL"),
        ({"homepage": "https://"}, "not an http(s) URL"),
        ({"maintainers": [{"email": "a@b.org"}]}, "maintainers[0]: name is required"),
        ({"maintainers": [{"name": "A", "email": "nope"}]}, "not an email address"),
        ({"maintainers": [{"name": "A", "phone": "1"}]}, "unknown key 'phone'"),
        ({"maintainers": "Ops"}, "maintainers: must be a list"),
        ({"dependencies": [{"name": "redis-ops"}]}, "version is required"),
        ({"dependencies": [{"name": "redis-ops", "version": "banana"}]}, "invalid range"),
        ({"dependencies": [{"name": "redis-ops", "version": ""}]}, "range is empty"),
        ({"dependencies": [{"name": "redis-ops", "version": 1.2}]}, "must be a range string"),
        ({"dependencies": [{"name": "Redis", "version": "*"}]}, "not a valid name"),
        ({"dependencies": [{"name": "log-analyzer", "version": "*"}]}, "depend on itself"),
        (
            {"dependencies": [{"name": "a", "version": "*"}, {"name": "a", "version": "^1"}]},
            "listed twice",
        ),
        ({"components": [{"name": "api", "templates": ["../etc/*.yaml"]}]}, "inside templates/"),
        (
            {"components": [{"name": "api", "templates": ["/templates/x.yaml"]}]},
            "inside templates/",
        ),
        ({"components": [{"name": "api", "templates": ["templates/../x.yaml"]}]}, "contains .."),
        ({"components": [{"name": "api", "templates": ["values.yaml"]}]}, "inside templates/"),
        ({"components": [{"name": "api", "templates": ["templates/[ab].yaml"]}]}, "wildcards"),
        ({"components": [{"name": "api", "templates": []}]}, "at least one"),
        ({"components": [{"name": "api"}]}, "templates is required"),
        (
            {
                "components": [
                    {"name": "api", "templates": ["templates/a/*.yaml"]},
                    {"name": "api", "templates": ["templates/b/*.yaml"]},
                ]
            },
            "listed twice",
        ),
        ({"dependecies": []}, "dependecies: unknown key"),
    ],
)
def test_refuses_fields_that_break_their_rule(changes: dict[str, Any], words: str) -> None:
    assert words in field_problem(**changes)


def test_lists_every_problem_at_once() -> None:
    reason = field_problem(name="Bad Name", summary="x" * 300, homepage="ftp://x")

    assert "name:" in reason and "summary:" in reason and "homepage:" in reason


def test_refuses_a_huge_manifest() -> None:
    assert refused(manifest_text(description="x" * 300_000)).code == "manifest_yaml"


# ------------------------------------------------------------------ component globs


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("templates/api/*.yaml", "templates/api/deployment.yaml", True),
        ("templates/api/*.yaml", "templates/api/sub/deployment.yaml", False),
        ("templates/api/*.yaml", "templates/api/deployment.yml", False),
        ("templates/**/*.yaml", "templates/x.yaml", True),
        ("templates/**/*.yaml", "templates/a/b/c.yaml", True),
        ("templates/**", "templates/a/b/c.yaml", True),
        ("templates/api/service.yaml", "templates/api/service.yaml", True),
        ("templates/api/?.yaml", "templates/api/a.yaml", True),
        ("templates/api/?.yaml", "templates/api/ab.yaml", False),
        ("templates/a.b/*.yaml", "templates/axb/x.yaml", False),
    ],
)
def test_template_globs(pattern: str, path: str, expected: bool) -> None:
    assert bool(template_glob(pattern).fullmatch(path)) is expected
