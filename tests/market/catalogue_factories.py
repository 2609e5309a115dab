"""Catalogue rows for page tests, written straight to the database: what a sync
would have stored, without storage behind it."""

from __future__ import annotations

import hashlib
import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone

from market.models import App, AppDoc, AppVersion, Market

_seq = itertools.count(1)


def make_market(name: str = "main", **fields: Any) -> Market:
    fields.setdefault("location", f"/srv/markets/{name}")
    return Market.objects.create(name=name, **fields)


def make_app(
    market: Market,
    name: str,
    *,
    versions: tuple[str, ...] = ("1.0.0",),
    title: str = "",
    summary: str = "",
    category: str = "observability",
    keywords: list[str] | None = None,
    dependencies: list[dict[str, str]] | None = None,
    readme: str = "",
    docs: dict[str, str] | None = None,
    icon: tuple[str, bytes] | None = None,
    updated_days_ago: float = 1,
    publisher: str = "ci-bot",
) -> App:
    """An app with its versions (the last one is the latest), docs and icon."""
    updated = timezone.now() - timedelta(days=updated_days_ago)
    app = App.objects.create(
        market=market,
        name=name,
        title=title or name.replace("-", " ").title(),
        summary=summary or f"Summary of {name}",
        category=category,
        keywords=keywords or [],
        latest=versions[-1],
        updated=updated,
        index_digest=f"sha256:{next(_seq):064x}",
        readme=readme,
        icon=icon[1] if icon else None,
        icon_type=icon[0] if icon else "",
    )
    for offset, version in enumerate(reversed(versions)):
        manifest = {
            "schema": 1,
            "name": name,
            "version": version,
            "title": app.title,
            "summary": app.summary,
            "category": category,
            "license": "Apache-2.0",
            "homepage": "https://example.org/" + name,
            "maintainers": [{"name": "Ops Team", "email": "ops@example.org"}],
            "keywords": keywords or [],
            "dependencies": dependencies or [],
            "components": [{"name": "api", "templates": ["templates/api/*.yaml"]}],
        }
        AppVersion.objects.create(
            app=app,
            version=version,
            archive=f"{name}-{version}.tgz",
            digest="sha256:" + hashlib.sha256(f"{name}{version}".encode()).hexdigest(),
            size=4096 + offset,
            published=updated - timedelta(days=offset * 30),
            publisher=publisher,
            manifest=manifest,
        )
    for path, body in (docs or {}).items():
        AppDoc.objects.create(app=app, path=path, title=path.rsplit("/", 1)[-1], body=body)
    return app
