"""The one slug rule (guards.slugs) for every name: a DNS-1123 label."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from guards.slugs import SLUG_MESSAGE, SLUG_PATTERN, is_slug, validate_slug

GOOD = ["a", "0", "web", "log-analyzer", "a-b-c", "a--b", "9lives", "x" * 63]
BAD = [
    "",
    "-web",
    "web-",
    "-",
    "Web",
    "WEB",
    "web_1",
    "web.1",
    "web 1",
    "x" * 64,
    "web\n",
    "\nweb",
    "web\x00",
    "wéb",
    "\uff57\uff45\uff42",  # full-width "web"
    "web\u200b",
    "../etc",
    "a/b",
]


@pytest.mark.parametrize("name", GOOD)
def test_labels_pass(name: str) -> None:
    assert is_slug(name)
    validate_slug(name)


@pytest.mark.parametrize("name", BAD)
def test_everything_else_is_refused(name: str) -> None:
    assert not is_slug(name)
    with pytest.raises(ValidationError) as refused:
        validate_slug(name)
    assert refused.value.messages == [SLUG_MESSAGE]


@pytest.mark.parametrize("value", [None, 1, b"web", ["web"]])
def test_non_strings_are_not_slugs(value: object) -> None:
    assert not is_slug(value)


def test_the_pattern_embedded_in_a_url_regex_is_the_same_rule() -> None:
    embedded = re.compile(rf"markets/(?P<market>{SLUG_PATTERN})/x")
    for name in GOOD:
        assert embedded.fullmatch(f"markets/{name}/x")
    for name in BAD:
        assert not embedded.fullmatch(f"markets/{name}/x")
