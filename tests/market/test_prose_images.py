"""README images: no request to a host the publisher chooses (issue 11, item 7)."""

from __future__ import annotations

import pytest

from market.prose import render_markdown


@pytest.mark.parametrize(
    "markdown",
    [
        "![pixel](https://tracker.example/p.gif?u=1)",
        '<img src="http://tracker.example/p.gif">',
        "![pixel](//tracker.example/p.gif)",
        "![logo](docs/logo.png)",
    ],
)
def test_readme_images_never_load_from_a_url(markdown: str) -> None:
    html = str(render_markdown(f"# Title\n\n{markdown}\n\nText after."))

    assert "tracker.example" not in html
    assert "<img" not in html
    assert "Text after." in html


def test_an_image_keeps_its_alt_text_as_words() -> None:
    html = str(render_markdown("![Architecture diagram](https://cdn.example/a.png)"))
    assert "Architecture diagram" in html
