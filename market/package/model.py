"""What reading a valid package gives: the parsed, checked contents of one archive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from market.package.jinja import is_rendered_template
from market.package.manifest import Manifest
from market.package.secrets import secret_paths


class Icon(NamedTuple):
    name: str  # "icon.svg" or "icon.png"
    data: bytes

    @property
    def content_type(self) -> str:
        return "image/svg+xml" if self.name.endswith(".svg") else "image/png"


@dataclass(frozen=True)
class Package:
    manifest: Manifest
    files: Mapping[str, bytes]  # every regular file, by path relative to NAME/
    readme: str | None
    docs: Mapping[str, str]  # docs/**.md by path relative to NAME/
    values: Mapping[str, Any]  # values.yaml, {} when absent
    values_schema: Mapping[str, Any] | None
    templates: Mapping[str, str]  # every file under templates/, partials included
    icon: Icon | None
    digest: str  # "sha256:<hex>" of the archive bytes
    size: int  # archive bytes
    directories: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def archive_name(self) -> str:
        return self.manifest.archive_name

    @property
    def manifest_data(self) -> dict[str, Any]:
        """The manifest as JSON, as index.json stores it."""
        return self.manifest.to_dict()

    @property
    def rendered_templates(self) -> list[str]:
        """Template paths that render to manifests (not partials), sorted."""
        return sorted(path for path in self.templates if is_rendered_template(path))

    def secret_paths(self) -> list[str]:
        """Dotted paths of values the schema marks writeOnly (``*`` = any key or item)."""
        return secret_paths(self.values_schema)
