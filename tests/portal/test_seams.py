"""The app layout the code promises: the portal shell reaches the domain apps only
through portal/seams.py, and the catalogue (market/) never reaches into deployments."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.smoke


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (late imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def offenders(app: str, forbidden: tuple[str, ...], allowed: set[str]) -> list[str]:
    found = []
    for path in sorted((REPO / app).rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative in allowed or "/migrations/" in relative:
            continue
        for module in imported_modules(path):
            if module.split(".")[0] in forbidden:
                found.append(f"{relative} imports {module}")
    return found


def test_the_portal_shell_reaches_the_domain_apps_only_through_its_seam():
    assert offenders("portal", ("market", "deployments"), {"portal/seams.py"}) == []


def test_the_catalogue_never_reaches_into_deployments():
    assert offenders("market", ("deployments",), set()) == []


def test_the_guards_import_no_app():
    # Every app calls guards/ for its security checks: an import back would be a cycle.
    apps = ("portal", "market", "deployments", "search", "builds")
    assert offenders("guards", apps, set()) == []


def test_the_checker_sees_a_late_import(tmp_path):
    # The walk above must catch an import hidden inside a function, or it proves nothing.
    module = tmp_path / "late.py"
    module.write_text("def f():\n    from deployments.models import Instance\n")
    assert imported_modules(module) == {"deployments.models"}
