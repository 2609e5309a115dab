"""A format-1 market in a plain folder, written as publishers leave it: for sync
tests that need many apps without building packages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from market.index import empty_market, index_add_version, market_apply_index, market_entry
from market.storage.cas import dump_json


class DiskMarket:
    """A format-1 market written straight to a folder, as publishers leave it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.doc = empty_market("disk")
        self.save()

    def save(self) -> None:
        (self.root / "market.json").write_bytes(dump_json(self.doc))

    def index_path(self, name: str) -> Path:
        return self.root / "apps" / name / "index.json"

    def index(self, name: str) -> dict[str, Any] | None:
        path = self.index_path(name)
        return json.loads(path.read_bytes()) if path.exists() else None

    def publish(self, name: str, version: str, content: str = "") -> str:
        data = f"{name} {version} {content}".encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        manifest = {"name": name, "version": version, "title": f"{name} {version}"}
        index = self.index(name)
        if index is not None and version in index["versions"]:
            del index["versions"][version]  # a rewritten history, for the tests only
        index = index_add_version(
            index,
            name=name,
            version=version,
            digest=digest,
            size=len(data),
            publisher="tests",
            manifest=manifest,
        )
        self.write_index(name, index)
        return digest

    def write_index(self, name: str, index: dict[str, Any]) -> None:
        path = self.index_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = dump_json(index)
        path.write_bytes(data)
        entry = market_entry(index, data)
        self.doc = market_apply_index(self.doc, name=name, entry=entry, market_name="disk")
        self.save()

    def unpublish(self, name: str, version: str) -> None:
        index = self.index(name)
        assert index is not None
        del index["versions"][version]
        self.write_index(name, index)
