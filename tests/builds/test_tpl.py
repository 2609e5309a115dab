"""``*.tpl`` files are rendered like envsubst, refusing unknown variables."""

from __future__ import annotations

import pytest

from builds.tpl import render_text, render_tpl_files
from market.package import PackageRefused, SourceFile


def test_braced_variables_are_replaced_and_escapes_kept() -> None:
    text = "FROM ${SW_PYTHON3_IMAGE}\nRUN echo $HOME $${HOME}\n"
    assert render_text(text, {"SW_PYTHON3_IMAGE": "py:3"}, path="Dockerfile.tpl") == (
        "FROM py:3\nRUN echo $HOME ${HOME}\n"
    )


def test_unknown_variable_names_file_and_line() -> None:
    with pytest.raises(PackageRefused) as caught:
        render_text("a\nb\nimage: ${NOPE}\n", {}, path="templates/x.yaml.tpl")
    assert caught.value.code == "unknown_variable"
    assert caught.value.reason == "templates/x.yaml.tpl:3: unknown variable ${NOPE}"


def test_tpl_file_becomes_the_file_without_suffix() -> None:
    files = [
        SourceFile("templates/deploy.yaml.tpl", b"image: ${IMG}\n"),
        SourceFile("README.md", b"${NOT_RENDERED}"),
    ]
    out = {f.path: f.data for f in render_tpl_files(files, {"IMG": "r.corp/x:1"})}
    assert out == {"templates/deploy.yaml": b"image: r.corp/x:1\n", "README.md": b"${NOT_RENDERED}"}


def test_rendering_over_an_existing_file_is_refused() -> None:
    files = [SourceFile("values.yaml", b"a: 1\n"), SourceFile("values.yaml.tpl", b"a: 2\n")]
    with pytest.raises(PackageRefused, match=r"would render over values\.yaml"):
        render_tpl_files(files, {})
