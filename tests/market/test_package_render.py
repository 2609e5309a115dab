"""Rendering templates for an instance, checking values, masking secrets."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from market.package import (
    MASK,
    InstanceContext,
    Limits,
    Package,
    RenderError,
    ValuesInvalid,
    build_package,
    component_templates,
    deep_merge,
    mask_secrets,
    merged_values,
    read_package,
    render_templates,
    secret_paths,
    validate_values,
)
from market.package.render_limits import RenderLimitExceeded
from tests.market.archives import package_archive
from tests.market.package_sources import write_source

INSTANCE = InstanceContext(name="logs", namespace="ops-prod", revision=3)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    root = tmp_path_factory.mktemp("render")
    return build_package(write_source(root / "src"), out_dir=root / "out", limits=Limits()).package


def package_with(files: dict[str, str | bytes | None]) -> Package:
    return read_package(package_archive(files=files), limits=Limits())


def render_error(package: Package, values: dict[str, Any] | None = None) -> RenderError:
    with pytest.raises(RenderError) as caught:
        render_templates(package, values=values or {}, instance=INSTANCE)
    assert "\n" not in str(caught.value)
    return caught.value


# ------------------------------------------------------------------ rendering


def test_renders_components_in_manifest_order_then_the_rest(package: Package) -> None:
    rendered = render_templates(
        package, values={"replicas": 3}, instance=INSTANCE, resources={"registry": "r.example"}
    )

    assert list(rendered) == [
        "templates/config/secret.yaml",  # component "config"
        "templates/api/deployment.yaml",  # component "api", sorted
        "templates/api/service.yaml",
        "templates/extra/networkpolicy.yaml",  # in no component: last
    ]
    assert "templates/_helpers.j2" not in rendered


def test_templates_see_values_instance_app_and_resources(package: Package) -> None:
    rendered = render_templates(
        package,
        values={"replicas": 3, "database": {"password": "hunter2"}},
        instance=INSTANCE,
    )

    deployment = yaml.safe_load(rendered["templates/api/deployment.yaml"])
    assert deployment["metadata"]["name"] == "logs-api"
    assert deployment["metadata"]["namespace"] == "ops-prod"
    assert deployment["metadata"]["annotations"]["ops-market/revision"] == "3"
    assert deployment["metadata"]["labels"] == {
        "app.kubernetes.io/name": "log-analyzer",
        "app.kubernetes.io/instance": "logs",
        "app.kubernetes.io/version": "1.4.2",
    }
    assert deployment["spec"]["replicas"] == 3
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    # Defaults survive next to the user's values: deep merge, not replacement.
    assert {"name": "REDIS_HOST", "value": "redis-ops:6379"} in env
    secret = yaml.safe_load(rendered["templates/config/secret.yaml"])
    assert base64.b64decode(secret["data"]["password"]) == b"hunter2"


def test_resources_reach_the_templates() -> None:
    package = package_with(
        {"templates/api/cm.yaml": "kind: ConfigMap\ndata:\n  pip: {{ resources.PYTHON_PIP }}\n"}
    )

    rendered = render_templates(
        package, values={}, instance=INSTANCE, resources={"PYTHON_PIP": "https://pypi.example"}
    )

    assert "pip: https://pypi.example" in rendered["templates/api/cm.yaml"]


def test_helper_filters_produce_valid_yaml() -> None:
    template = (
        "kind: ConfigMap\ndata:\n  quoted: {{ 'a: b # c' | quote }}\n"
        "  nested:\n    {{ values.database | to_yaml | indent(4) }}\n"
    )
    package = package_with({"templates/api/cm.yaml": template})

    rendered = render_templates(package, values={}, instance=INSTANCE)

    document = yaml.safe_load(rendered["templates/api/cm.yaml"])
    assert document["data"] == {"quoted": "a: b # c", "nested": {"host": "db"}}


# ------------------------------------------------------------------ render errors


def test_an_undefined_name_names_the_template_and_line() -> None:
    package = package_with(
        {"templates/api/bad.yaml": "kind: ConfigMap\ndata:\n  x: {{ values.nope }}\n"}
    )

    error = render_error(package)

    assert error.template == "templates/api/bad.yaml"
    assert error.line == 3
    assert str(error).startswith("templates/api/bad.yaml line 3:")
    assert "nope" in str(error)


def test_an_undefined_top_level_name_is_an_error() -> None:
    package = package_with({"templates/api/bad.yaml": "x: {{ valuez.replicas }}\n"})

    assert "'valuez' is undefined" in str(render_error(package))


@pytest.mark.parametrize(
    "expression",
    [
        "''.__class__.__mro__[1].__subclasses__()",
        "values.__class__",
        "cycler.__init__.__globals__",
    ],
)
def test_sandbox_violations_are_render_errors(expression: str) -> None:
    package = package_with({"templates/api/bad.yaml": f"x: {{{{ {expression} }}}}\n"})

    error = render_error(package)

    assert error.template == "templates/api/bad.yaml" and error.line == 1


def test_templates_cannot_change_the_values() -> None:
    package = package_with(
        {"templates/api/bad.yaml": "x: {{ values.database.update({'host': 'evil'}) }}\n"}
    )

    assert "unsafe" in str(render_error(package))


def test_python_errors_in_expressions_are_render_errors() -> None:
    package = package_with({"templates/api/bad.yaml": "a: 1\nb: {{ values.replicas // 0 }}\n"})

    error = render_error(package)

    assert (
        str(error)
        == "templates/api/bad.yaml line 2: ZeroDivisionError: integer division or modulo by zero"
    )


def test_an_error_in_a_partial_names_the_partial() -> None:
    package = package_with(
        {
            "templates/_helpers.j2": "{% macro name() %}\n{{ values.missing }}\n{% endmacro %}\n",
            "templates/api/uses.yaml": (
                '{% import "templates/_helpers.j2" as h %}\nname: {{ h.name() }}\n'
            ),
        }
    )

    error = render_error(package)

    assert error.template == "templates/_helpers.j2" and error.line == 2
    assert "included from templates/api/uses.yaml" in str(error)


def test_including_a_missing_template_is_a_render_error() -> None:
    package = package_with({"templates/api/uses.yaml": '{% include "templates/nope.j2" %}\n'})

    assert "templates/nope.j2" in str(render_error(package))


def test_output_that_is_not_yaml_is_a_render_error() -> None:
    package = package_with({"templates/api/bad.yaml": "a: {{ 'b: c' }}\n"})

    error = render_error(package)

    assert "not valid YAML" in str(error) and error.template == "templates/api/bad.yaml"


def test_runaway_output_is_cut_short_as_a_render_limit() -> None:
    template = "{% for i in range(90000) %}# {{ 'x' * 1000 }}\n{% endfor %}"
    package = package_with({"templates/api/big.yaml": template})

    with pytest.raises(RenderLimitExceeded, match="rendered output is over") as caught:
        render_templates(package, values={}, instance=INSTANCE)
    assert caught.value.code == "render_limit"


def test_secret_values_never_appear_in_render_errors() -> None:
    package = package_with({"templates/api/bad.yaml": "x: {{ {}[values.database.password] }}\n"})

    error = render_error(package, {"database": {"password": "hunter2-secret"}})

    assert "hunter2-secret" not in str(error)
    assert MASK in str(error)


# ------------------------------------------------------------------ values


def test_invalid_values_are_refused_before_rendering(package: Package) -> None:
    with pytest.raises(ValuesInvalid) as caught:
        render_templates(package, values={"replicas": 0}, instance=INSTANCE)

    assert caught.value.errors == ["replicas: 0 is less than the minimum of 1"]


def test_validate_values_lists_every_error(package: Package) -> None:
    errors = validate_values(
        package,
        {
            "replicas": 50,
            "threshold": "high",
            "database": {"host": "", "colour": "blue", "password": 12345},
        },
    )

    assert errors == [
        "database: Additional properties are not allowed ('colour' was unexpected)",
        "database.host: '' should be non-empty",
        "database.password: secret value does not satisfy type string",
        "replicas: 50 is greater than the maximum of 20",
        "threshold: 'high' is not of type 'integer'",
    ]
    assert validate_values(package, {"replicas": 5}) == []


def test_validate_values_checks_the_merged_values(package: Package) -> None:
    assert validate_values(package, {"database": {"host": None}}) == [
        "database.host: None is not of type 'string'"
    ]


def test_schema_errors_never_quote_a_secret() -> None:
    schema = {
        "type": "object",
        "properties": {
            "token": {"type": "string", "minLength": 32, "writeOnly": True},
            "users": {
                "type": "array",
                "items": {"type": "object", "properties": {"key": {"$ref": "#/$defs/key"}}},
            },
        },
        "$defs": {"key": {"type": "string", "pattern": "^ssh-", "writeOnly": True}},
    }
    package = package_with({"values.schema.json": json.dumps(schema), "values.yaml": "{}\n"})

    errors = validate_values(package, {"token": "short-secret", "users": [{"key": "rsa-secret"}]})

    assert errors == [
        "token: secret value does not satisfy minLength 32",
        "users.0.key: secret value does not satisfy pattern ^ssh-",
    ]
    assert package.secret_paths() == ["token", "users.*.key"]


def test_a_package_without_schema_accepts_any_values() -> None:
    package = package_with({"values.schema.json": None})

    assert validate_values(package, {"anything": [1, 2]}) == []


def test_deep_merge_merges_mappings_and_replaces_everything_else() -> None:
    base: dict[str, Any] = {"a": {"b": 1, "c": [1, 2]}, "d": 1, "e": {"f": 1}}
    override: dict[str, Any] = {"a": {"c": [3], "g": 2}, "d": None, "e": "flat"}

    merged = deep_merge(base, override)

    assert merged == {"a": {"b": 1, "c": [3], "g": 2}, "d": None, "e": "flat"}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1, "e": {"f": 1}}
    merged["a"]["c"].append(4)
    assert override["a"]["c"] == [3]


def test_merged_values_start_from_the_defaults(package: Package) -> None:
    merged = merged_values(package, {"database": {"password": "x"}})

    assert merged["database"] == {"host": "redis-ops", "port": 6379, "password": "x"}
    assert package.values["database"]["password"] == ""


def test_component_templates_groups_by_first_matching_component() -> None:
    manifest = (
        "schema: 1\nname: log-analyzer\nversion: 1.4.2\ntitle: T\nsummary: S\ncategory: c\n"
        "components:\n"
        "  - {name: all, templates: ['templates/**/*.yaml']}\n"
        "  - {name: api, templates: ['templates/api/*.yaml']}\n"
    )
    package = read_package(
        package_archive(manifest=manifest, files={"templates/api/b.yaml": "b: 1\n"}),
        limits=Limits(),
    )

    assert component_templates(package) == [
        ("all", ["templates/api/b.yaml", "templates/api/deployment.yaml"]),
        ("api", []),
    ]


# ------------------------------------------------------------------ secrets


def test_secret_paths_follow_refs_items_and_combinators() -> None:
    schema = {
        "properties": {
            "db": {"$ref": "#/$defs/db"},
            "tokens": {"additionalProperties": {"type": "string", "writeOnly": True}},
            "alt": {"oneOf": [{"properties": {"key": {"writeOnly": True}}}]},
            "public": {"type": "string", "writeOnly": False},
        },
        "$defs": {"db": {"properties": {"password": {"writeOnly": True}, "self": {"$ref": "#"}}}},
    }

    # A recursive $ref is followed once: db.self is the root schema again.
    assert secret_paths(schema) == [
        "alt.key",
        "db.password",
        "db.self.alt.key",
        "db.self.tokens.*",
        "tokens.*",
    ]
    assert secret_paths(None) == []


def test_mask_secrets_hides_values_at_secret_paths_only() -> None:
    values: dict[str, Any] = {
        "db": {"password": "p", "host": "h"},
        "tokens": {"a": "1", "b": "2"},
        "users": [{"key": "k1", "name": "n"}],
        "empty": None,
    }

    masked = mask_secrets(values, ["db.password", "tokens.*", "users.*.key", "empty", "absent.x"])

    assert masked == {
        "db": {"password": MASK, "host": "h"},
        "tokens": {"a": MASK, "b": MASK},
        "users": [{"key": MASK, "name": "n"}],
        "empty": None,
    }
    assert values["db"]["password"] == "p"


def test_render_works_on_a_package_read_from_disk(tmp_path: Path) -> None:
    built = build_package(write_source(tmp_path / "src"), out_dir=tmp_path, limits=Limits())
    package = read_package(built.path.read_bytes(), filename=built.path.name, limits=Limits())

    rendered = render_templates(package, values=None, instance=INSTANCE)

    assert all(yaml.safe_load(text) for text in rendered.values())
