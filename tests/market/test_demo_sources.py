"""The demo market's package sources (market/demo/apps/<name>/<version>/) meet SPEC section 2.

These checks need no database and no package reader: PyYAML's safe loader, jsonschema's
Draft 2020-12 validator, a sandboxed Jinja2 environment with StrictUndefined and node-semver
are enough. When market.package.builder exists, every source is also built and read back.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import importlib
import importlib.util
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath
from typing import Any

import nodesemver
import pytest
import yaml
from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
APPS_DIR = ROOT / "market" / "demo" / "apps"

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# The official SemVer 2.0.0 expression.
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
MANIFEST_FIELDS = {
    "schema", "name", "version", "title", "summary", "description", "category", "keywords",
    "license", "homepage", "maintainers", "dependencies", "components",
}  # fmt: skip
INSTANCE = {"name": "demo", "namespace": "sre-tools", "revision": 1}

# Hosts a demo package may name. json-schema.org is only the "$schema" identifier and
# www.w3.org only the SVG namespace: neither is ever fetched.
ALLOWED_HOST_SUFFIXES = (
    "example.org", "example.com", "cluster.local", ".svc",
    "json-schema.org", "www.w3.org",
    # Kubernetes API groups and label prefixes look like domains but are not hosts.
    "k8s.io", "kubernetes.io", "monitoring.coreos.com",
)  # fmt: skip
URL_RE = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://([A-Za-z0-9][^/\s\"'<>`)\]?#]*)")
BARE_HOST_RE = re.compile(
    r"(?<![\w@.-])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    r"(?:org|com|net|io|dev|cn|local|internal))\b",
    re.IGNORECASE,
)
JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")
ALLOWED_TOP_LEVEL = {
    "manifest.yaml",
    "README.md",
    "values.yaml",
    "values.schema.json",
    "icon.svg",
    # Release notes: the upgrade page shows the sections after the installed version.
    "CHANGELOG.md",
}
# Dict methods shadow keys of the same name under Jinja's attribute lookup (values.items).
SHADOWED_KEYS = set(dir(dict))


def _sources() -> list[tuple[str, str, Path]]:
    found = []
    for app_dir in sorted(p for p in APPS_DIR.iterdir() if p.is_dir()):
        for version_dir in sorted(p for p in app_dir.iterdir() if p.is_dir()):
            found.append((app_dir.name, version_dir.name, version_dir))
    return found


SOURCES = _sources()
IDS = [f"{name}@{version}" for name, version, _ in SOURCES]


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that also refuses duplicate keys, like the package reader must."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _load_strict(text: str) -> Any:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        assert getattr(event, "anchor", None) is None, "anchors and aliases are not allowed"
        if isinstance(event, yaml.ScalarEvent | yaml.MappingStartEvent | yaml.SequenceStartEvent):
            assert event.tag is None or event.tag.startswith("tag:yaml.org,2002:"), event.tag
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def _manifest(path: Path) -> dict[str, Any]:
    return _load_strict((path / "manifest.yaml").read_text(encoding="utf-8"))


def _values(path: Path) -> dict[str, Any]:
    return _load_strict((path / "values.yaml").read_text(encoding="utf-8")) or {}


def _schema(path: Path) -> dict[str, Any]:
    return json.loads((path / "values.schema.json").read_text(encoding="utf-8"))


def _templates(path: Path) -> list[str]:
    return sorted(
        p.relative_to(path).as_posix() for p in (path / "templates").rglob("*") if p.is_file()
    )


def _environment(*, trim: bool) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=trim,
        lstrip_blocks=trim,
    )


@functools.cache
def _compiled(template: Path, trim: bool) -> Template:
    return _environment(trim=trim).from_string(template.read_text(encoding="utf-8"))


def _render(path: Path, values: dict[str, Any], *, trim: bool = False) -> dict[str, list[Any]]:
    manifest = _manifest(path)
    context = {
        "values": values,
        "instance": dict(INSTANCE),
        "app": {"name": manifest["name"], "version": manifest["version"]},
        "resources": {},
    }
    rendered = {}
    for rel in _templates(path):
        text = _compiled(path / rel, trim).render(context)
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        rendered[rel] = docs
    return rendered


def _walk(node: Any, key: str | None = None):
    yield key, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, key)


def _writeonly_paths(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple]:
    found = []
    for key, sub in schema.get("properties", {}).items():
        if sub.get("writeOnly"):
            found.append((*prefix, key))
        if sub.get("type") == "object":
            found.extend(_writeonly_paths(sub, (*prefix, key)))
    return found


def _set_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data.setdefault(key, {})
    data[path[-1]] = value


# Branches chosen by enums rather than booleans: extra value sets to render, per app.
EXTRA_VARIANTS: dict[str, list[dict[str, Any]]] = {
    "oncall-runbooks": [{"source": {"type": "inline"}}],
    "log-collector": [{"output": {"type": "http"}}, {"output": {"type": "stdout"}}],
    "cert-watcher": [{"secrets": {"enabled": True, "namespaces": ["payments", "sre-tools"]}}],
    # A drill aimed outside the allowed namespaces (since 0.3.1: outside the
    # instance's) renders suspended, not broken.
    "chaos-drills": [
        {"safety": {"allowedNamespaces": []}},
        {
            "drills": [
                {
                    "name": "elsewhere",
                    "schedule": "0 9 * * 1",
                    "action": "dns-failure",
                    "namespace": "payments",
                    "selector": {"app": "api"},
                    "durationSeconds": 60,
                }
            ]
        },
    ],
    "backup-scheduler": [
        {
            "jobs": [
                {
                    "name": "cache",
                    "type": "redis",
                    "schedule": "0 * * * *",
                    "redis": {"host": "redis"},
                },
                {
                    "name": "cache-auth",
                    "type": "redis",
                    "schedule": "0 * * * *",
                    "redis": {"host": "redis", "passwordSecret": {"name": "r", "key": "password"}},
                },
            ]
        }
    ],
}


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base.get(key), value)
        return merged
    return copy.deepcopy(override)


def _flip_booleans(node: Any) -> Any:
    if isinstance(node, bool):
        return not node
    if isinstance(node, dict):
        return {k: _flip_booleans(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_flip_booleans(v) for v in node]
    return node


def _check_rendered(rendered: dict[str, list[Any]]) -> int:
    count = 0
    for rel, docs in rendered.items():
        for doc in docs:
            assert isinstance(doc, dict), f"{rel}: a document is not a mapping"
            assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], rel
            assert isinstance(doc.get("kind"), str) and doc["kind"], rel
            meta = doc.get("metadata")
            assert isinstance(meta, dict) and NAME_RE.match(meta.get("name", "")), (
                f"{rel}: metadata.name missing or not a DNS label: {meta}"
            )
            if doc["kind"] in {"Role", "RoleBinding"}:
                # Least-privilege access to another namespace is the one exception.
                assert NAME_RE.match(meta.get("namespace", "")), f"{rel}: {doc['kind']}"
            elif doc["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
                assert meta.get("namespace") == INSTANCE["namespace"], f"{rel}: {doc['kind']}"
            if doc["kind"] in {"ConfigMap", "Secret"}:
                # Embedded configuration files must parse too.
                for field in ("data", "stringData"):
                    for fname, body in (doc.get(field) or {}).items():
                        if fname.endswith(".json"):
                            json.loads(body)
                        elif fname.endswith((".yaml", ".yml")):
                            assert isinstance(yaml.safe_load(body), dict), f"{rel}: {fname}"
            for key, value in _walk(doc):
                if key == "image":
                    assert isinstance(value, str), f"{rel}: image is not a string"
                    assert value.startswith("registry.example.org/"), f"{rel}: image {value}"
                assert "<built-in method" not in str(value), f"{rel}: a dict method leaked"
            count += 1
    return count


# ------------------------------------------------------------------------------ tests


def test_the_demo_market_is_realistic() -> None:
    apps = {name for name, _, _ in SOURCES}
    assert len(apps) >= 12
    per_app = {name: [v for n, v, _ in SOURCES if n == name] for name in apps}
    assert all(2 <= len(v) <= 3 for v in per_app.values()), per_app
    secrets = [IDS[i] for i, (_, _, p) in enumerate(SOURCES) if _writeonly_paths(_schema(p))]
    assert len({s.split("@")[0] for s in secrets}) >= 4, secrets
    chinese = re.compile(r"[\u4e00-\u9fff]")
    assert any(
        chinese.search(
            str(_manifest(p).get("summary", "")) + str(_manifest(p).get("description", ""))
        )
        for _, _, p in SOURCES
    ), "no Chinese summary or description for search to find"


@pytest.mark.parametrize(("name", "version", "path"), SOURCES, ids=IDS)
def test_manifest_fields(name: str, version: str, path: Path) -> None:
    raw = (path / "manifest.yaml").read_text(encoding="utf-8")
    m = _manifest(path)
    assert set(m) == MANIFEST_FIELDS, set(m) ^ MANIFEST_FIELDS
    assert m["schema"] == 1
    assert m["name"] == name and NAME_RE.match(name)
    assert isinstance(m["version"], str) and SEMVER_RE.match(m["version"])
    assert m["version"] == version
    assert re.search(rf'^version: "{re.escape(version)}"$', raw, re.M), "quote the version"
    assert isinstance(m["title"], str) and m["title"].strip()
    assert isinstance(m["summary"], str) and 0 < len(m["summary"]) <= 200
    assert "\n" not in m["summary"].strip()
    assert isinstance(m["description"], str) and len(m["description"]) > len(m["summary"])
    assert isinstance(m["category"], str) and SLUG_RE.match(m["category"])
    assert m["keywords"] and all(
        isinstance(k, str) and 0 < len(k) <= 50 and k == k.strip() and k == k.lower()
        for k in m["keywords"]
    )
    assert len(set(m["keywords"])) == len(m["keywords"])
    assert m["license"] in {"Apache-2.0", "MIT", "BSD-3-Clause", "MPL-2.0"}
    assert re.match(r"^https://(?:[a-z0-9-]+\.)*example\.(?:org|com)/", m["homepage"])
    assert m["maintainers"]
    for person in m["maintainers"]:
        assert set(person) == {"name", "email"}
        assert re.match(r"^[\w.+-]+@example\.(?:org|com)$", person["email"])
    assert isinstance(m["dependencies"], list)
    for dep in m["dependencies"]:
        assert set(dep) == {"name", "version"}
        assert NAME_RE.match(dep["name"]) and dep["name"] != name
        assert isinstance(dep["version"], str)


@pytest.mark.parametrize(("name", "version", "path"), SOURCES, ids=IDS)
def test_members_and_components(name: str, version: str, path: Path) -> None:
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    total = 0
    for rel in files:
        p = path / rel
        assert not p.is_symlink(), rel
        total += p.stat().st_size
        top = rel.split("/")[0]
        if "/" not in rel:
            assert rel in ALLOWED_TOP_LEVEL, f"unexpected member {rel}"
        elif top == "templates":
            assert rel.endswith(".yaml"), rel
        elif top == "docs":
            assert rel.endswith(".md"), rel
        else:
            raise AssertionError(f"unexpected member {rel}")
    assert total < 48 * 1024, f"{total} bytes: keep demo packages small"
    for required in ("manifest.yaml", "README.md", "values.yaml", "values.schema.json"):
        assert required in files
    docs = [f for f in files if f.startswith("docs/")]
    assert 1 <= len(docs) <= 3, docs
    for doc in [*docs, "README.md"]:
        text = (path / doc).read_text(encoding="utf-8")
        assert text.startswith("# ") and len(text) > 400, f"{doc} is too thin"
    readme = (path / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^\| Key \| Type \| Default \| Description \|$", readme, re.M), "values table"

    # Every template belongs to exactly one component, whichever glob flavour a reader uses:
    # fnmatch (where * crosses "/") or pathlib (where it does not).
    templates = _templates(path)
    assert templates
    components = _manifest(path)["components"]
    assert components and len({c["name"] for c in components}) == len(components)
    for comp in components:
        assert set(comp) == {"name", "templates"} and SLUG_RE.match(comp["name"])
        for pattern in comp["templates"]:
            assert pattern.startswith("templates/") and ".." not in pattern
            assert any(fnmatch.fnmatchcase(t, pattern) for t in templates), f"{pattern}: no match"
    for t in templates:
        by_fnmatch = [
            c["name"] for c in components if any(fnmatch.fnmatchcase(t, g) for g in c["templates"])
        ]
        by_path = [
            c["name"]
            for c in components
            if any(
                PurePosixPath(t).match(g) and g.count("/") == t.count("/") for g in c["templates"]
            )
        ]
        assert by_fnmatch == by_path and len(by_fnmatch) == 1, (t, by_fnmatch, by_path)

    icon = path / "icon.svg"
    if icon.exists():
        data = icon.read_bytes()
        assert len(data) < 4096
        assert b"<script" not in data.lower() and not re.search(rb"\son\w+\s*=", data)
        assert ET.fromstring(data).tag.endswith("svg")  # noqa: S314 - our own files


@pytest.mark.parametrize(("name", "version", "path"), SOURCES, ids=IDS)
def test_values_satisfy_schema(name: str, version: str, path: Path) -> None:
    schema = _schema(path)
    assert schema.get("$schema") == SCHEMA_URI
    Draft202012Validator.check_schema(schema)
    assert schema.get("type") == "object" and schema.get("properties")
    values = _values(path)
    errors = sorted(Draft202012Validator(schema).iter_errors(values), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]
    # Every top-level property is documented.
    for key, sub in schema["properties"].items():
        assert sub.get("description"), f"{key} has no description"
    # No key that Jinja would resolve to a dict method instead.
    for key, _ in _walk(values):
        assert key not in SHADOWED_KEYS, f"values key {key!r} shadows a dict method"
    # Secrets never ship with a real default value.
    for wo in _writeonly_paths(schema):
        node: Any = values
        for key in wo:
            node = node.get(key, "") if isinstance(node, dict) else ""
        assert node in ("", None), f"secret {'.'.join(wo)} has a default"


@pytest.mark.parametrize("trim", [False, True], ids=["plain", "trim-blocks"])
@pytest.mark.parametrize(("name", "version", "path"), SOURCES, ids=IDS)
def test_templates_render_to_kubernetes_yaml(
    name: str, version: str, path: Path, trim: bool
) -> None:
    values = _values(path)
    assert _check_rendered(_render(path, values, trim=trim)) >= 1


@pytest.mark.parametrize(("name", "version", "path"), SOURCES, ids=IDS)
def test_templates_render_with_secrets_and_toggles_flipped(
    name: str, version: str, path: Path
) -> None:
    """Branches the defaults leave off must render too: flip every boolean, set every secret."""
    schema = _schema(path)
    validator = Draft202012Validator(schema)
    variants = []
    with_secrets = copy.deepcopy(_values(path))
    for wo in _writeonly_paths(schema):
        _set_path(with_secrets, wo, "s3cr3t-value")
    variants.append(with_secrets)
    variants.append(_flip_booleans(with_secrets))
    for extra in EXTRA_VARIANTS.get(name, []):
        variants.append(_deep_merge(with_secrets, extra))
        variants.append(_deep_merge(_flip_booleans(with_secrets), extra))
    for values in variants[2:]:
        assert not list(validator.iter_errors(values)), "an EXTRA_VARIANTS entry is invalid"
    rendered_any = False
    secret_values = bool(_writeonly_paths(schema))
    for values in variants:
        if list(validator.iter_errors(values)):
            continue
        rendered = _render(path, values)
        _check_rendered(rendered)
        rendered_any = True
        if secret_values:
            # A secret is only ever written to a Secret, never to a ConfigMap or pod spec.
            for rel, docs in rendered.items():
                for doc in docs:
                    if doc["kind"] != "Secret":
                        assert "s3cr3t-value" not in json.dumps(doc), f"{rel}: {doc['kind']}"
    assert rendered_any


@pytest.mark.parametrize(("name", "version", "path"), SOURCES, ids=IDS)
def test_only_example_hosts(name: str, version: str, path: Path) -> None:
    offending = []
    for p in sorted(path.rglob("*")):
        if not p.is_file():
            continue
        for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            # Template expressions become a placeholder label: {{ instance.name }}-x.svc...
            line = JINJA_RE.sub("tpl", line)
            hosts = [h.rsplit("@", 1)[-1].split(":")[0] for h in URL_RE.findall(line)]
            hosts += BARE_HOST_RE.findall(line)
            for host in hosts:
                host = host.lower().rstrip(".")
                if not host or not any(
                    host == s.lstrip(".") or host.endswith(s if s.startswith(".") else "." + s)
                    for s in ALLOWED_HOST_SUFFIXES
                ):
                    offending.append(f"{p.relative_to(path)}:{lineno}: {host}")
    assert not offending, offending
    # docker.io by its other names, too.
    for p in path.rglob("*"):
        if p.is_file():
            text = p.read_text(encoding="utf-8")
            assert "docker.io" not in text and "ghcr.io" not in text and "quay.io" not in text


def test_dependencies_resolve_within_the_demo_and_have_no_cycles() -> None:
    versions: dict[str, list[str]] = {}
    for name, version, _ in SOURCES:
        versions.setdefault(name, []).append(version)
    graph: dict[str, set[str]] = {name: set() for name in versions}
    for name, version, path in SOURCES:
        for dep in _manifest(path)["dependencies"]:
            assert dep["name"] in versions, f"{name}@{version}: unknown app {dep['name']}"
            best = nodesemver.max_satisfying(versions[dep["name"]], dep["version"], loose=False)
            assert best, f"{name}@{version}: nothing satisfies {dep['name']} {dep['version']}"
            graph[name].add(dep["name"])

    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        assert state.get(node) != 1, f"dependency cycle: {' -> '.join([*trail, node])}"
        state[node] = 1
        for nxt in sorted(graph[node]):
            visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])
    assert any(graph.values()), "the demo should exercise dependencies"


def _module(name: str) -> Any:
    """The module, or None while it does not exist yet; a broken module fails loudly."""
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


@pytest.mark.parametrize(("name", "version", "path"), SOURCES, ids=IDS)
def test_builds_and_renders_with_the_package_modules(
    name: str, version: str, path: Path, tmp_path: Path
) -> None:
    """The real builder packs and re-reads every source; the real renderer renders it."""
    builder = _module("market.package.builder")
    if builder is None or not hasattr(builder, "build_package"):
        pytest.skip("market.package.builder is not there yet")
    built = builder.build_package(path, out_dir=tmp_path)
    assert built.path == tmp_path / f"{name}-{version}.tgz" and built.path.is_file()
    reader = _module("market.package.reader")
    package = reader.read_package(built.path.read_bytes(), filename=built.path.name)
    assert (package.name, package.version) == (name, version)
    assert package.digest == built.digest
    assert package.readme and package.docs and package.templates

    render = _module("market.package.render")
    if render is None or not hasattr(render, "render_templates"):
        return
    instance = render.InstanceContext(**INSTANCE)
    overrides: dict[str, Any] = {}
    for wo in _writeonly_paths(_schema(path)):
        _set_path(overrides, wo, "s3cr3t-value")
    for values in ({}, overrides):
        rendered = render.render_templates(package, values=values, instance=instance)
        assert set(rendered) == set(_templates(path))
        docs = {rel: [d for d in yaml.safe_load_all(text) if d] for rel, text in rendered.items()}
        assert _check_rendered(docs) >= 1
