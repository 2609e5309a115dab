"""Every page carries a strict Content-Security-Policy (issue 11, item 7)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def _policy(response: Any) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy", "")
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {d[0]: d[1:] for d in directives}


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/api/v1/teams/", "/no-such-page/"])
def test_pages_allow_only_their_own_scripts_and_styles(client: Any, user: Any, path: str) -> None:
    client.force_login(user)
    policy = _policy(client.get(path))

    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert all("unsafe" not in source for sources in policy.values() for source in sources)
