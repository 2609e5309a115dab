"""Rendered manifests: where they go in the target, what users may see of them,
and what verify checks about them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import yaml

from market.package.secrets import MASK

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def target_paths(rendered: Mapping[str, str]) -> dict[str, str]:
    """Template paths (``templates/api/deploy.yaml``) to file paths under the
    instance's folder (``api/deploy.yaml``)."""
    return {path.removeprefix("templates/"): text for path, text in rendered.items()}


def manifests_digest(manifests: Mapping[str, str]) -> str:
    digest = hashlib.sha256()
    for path in sorted(manifests):
        digest.update(path.encode() + b"\0" + manifests[path].encode() + b"\0")
    return "sha256:" + digest.hexdigest()


def resources_of(manifests: Mapping[str, str]) -> list[dict[str, str]]:
    """``{kind, name, file, api_version}`` of every document, for the instance page,
    search and the live state."""
    found: list[dict[str, str]] = []
    for path, text in manifests.items():
        try:
            # Masked copies hold ******** where a secret was: on its own that reads as
            # a YAML alias, so it is made a plain word before parsing.
            documents = list(yaml.load_all(text.replace(MASK, "masked"), Loader=_Loader))
        except yaml.YAMLError:
            continue
        for document in documents:
            if isinstance(document, dict):
                metadata = document.get("metadata")
                name = metadata.get("name") if isinstance(metadata, dict) else None
                found.append(
                    {
                        "kind": str(document.get("kind", "?")),
                        "name": str(name or "?"),
                        "file": path,
                        "api_version": str(document.get("apiVersion") or ""),
                    }
                )
    return found


def manifest_problems(manifests: Mapping[str, str], *, namespace: str) -> list[str]:
    """What Argo CD or Flux would refuse when syncing the folder: a document that is
    not a Kubernetes object (apiVersion, kind, metadata.name), or one that names
    another namespace than the instance's."""
    problems: list[str] = []
    for path, text in manifests.items():
        try:
            documents = list(yaml.load_all(text, Loader=_Loader))
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not YAML ({exc.__class__.__name__})")
            continue
        for number, document in enumerate(documents, start=1):
            if document is None:
                continue
            where = f"{path} document {number}"
            if not isinstance(document, dict):
                problems.append(f"{where}: not a mapping")
                continue
            for key in ("apiVersion", "kind"):
                if not isinstance(document.get(key), str) or not document.get(key):
                    problems.append(f"{where}: no {key}")
            metadata = document.get("metadata")
            if not isinstance(metadata, dict) or not metadata.get("name"):
                problems.append(f"{where}: no metadata.name")
            elif metadata.get("namespace") not in (None, namespace):
                named = metadata.get("namespace")
                problems.append(f"{where}: metadata.namespace {named!r} is not {namespace!r}")
    return problems
