"""Documentation of the UI component library: one Markdown file per component.

``docs/components/<name>.md`` starts with a front matter block::

    ---
    title: Status badge
    summary: The state of an operation, instance or token as a coloured word.
    ---

and may hold fenced ``example`` blocks (an optional caption may follow the word
``example`` on the opening fence line): Django template code which the docs page
renders live through the real template engine, next to its source. The files live in
the repository, so examples are trusted code; they still get sample data only
(:func:`sample_context`), never the viewer's. The prose is sanitised with nh3 because
the same HTML is what site search indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import markdown
import nh3
import yaml
from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template import Context, engines
from django.utils.html import escape
from django.utils.safestring import SafeString

from guards.slugs import SLUG_MAX_LENGTH, validate_slug

COMPONENT_NAME_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(?P<meta>.*?)\n---[ \t]*\n", re.S)
_EXAMPLE_RE = re.compile(
    r"^```example[ \t]*(?P<caption>[^\n]*)\n(?P<source>.*?)^```[ \t]*$", re.M | re.S
)
_PLACEHOLDER = "COMPONENTEXAMPLE{}"
_PLACEHOLDER_RE = re.compile(r"<p>COMPONENTEXAMPLE(\d+)</p>")

_ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h2", "h3",
    "h4", "hr", "kbd", "li", "ol", "p", "pre", "strong", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "code": {"class"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
}


class ComponentNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Example:
    caption: str
    source: str


@dataclass(frozen=True)
class ComponentDoc:
    name: str
    title: str
    summary: str
    markdown: str
    """The whole file, front matter included."""
    body_html: str
    """Sanitised HTML of the body, examples shown as their source: what search indexes."""
    examples: tuple[Example, ...]
    sections: tuple[str | Example, ...]
    """The body in order: sanitised HTML fragments and the examples between them."""

    @property
    def url(self) -> str:
        return f"/docs/components/{self.name}/"


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The YAML front matter of a docs file (safe loader) and the Markdown after it."""
    front = _FRONT_MATTER_RE.match(text)
    if not front:
        return {}, text
    loaded = yaml.safe_load(front.group("meta"))
    return (loaded if isinstance(loaded, dict) else {}), text[front.end() :]


def docs_html(body: str) -> str:
    """The portal's own docs Markdown as sanitised HTML (component docs, the guide)."""
    return nh3.clean(
        markdown.markdown(body, extensions=["tables", "fenced_code", "toc", "sane_lists"]),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def docs_dir() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "components"


def component_names() -> list[str]:
    """Names of the documented components: the ``.md`` files on disk with a valid name."""
    folder = docs_dir()
    if not folder.is_dir():
        return []
    return sorted(
        path.stem
        for path in folder.glob("*.md")
        if path.is_file() and COMPONENT_NAME_RE.match(path.stem)
    )


def list_components() -> list[ComponentDoc]:
    return sorted((load_component(name) for name in component_names()), key=lambda d: d.title)


def load_component(name: str) -> ComponentDoc:
    """Read and render one component's documentation.

    The name is checked against the files that exist (never joined into a path
    before that), the front matter is read with the safe YAML loader, examples are
    cut out and replaced by placeholders, the rest is rendered by ``markdown`` and
    sanitised, and the HTML is split at the placeholders into ``sections``.
    """
    if not COMPONENT_NAME_RE.match(name) or name not in component_names():
        raise ComponentNotFound(name)
    path = docs_dir() / f"{name}.md"
    return _load(name, str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=128)
def _load(name: str, path: str, mtime_ns: int) -> ComponentDoc:
    # Cached per file version: an edited file has a new mtime and is read again.
    text = Path(path).read_text(encoding="utf-8")

    meta, body = front_matter(text)

    examples: list[Example] = []

    def cut(match: re.Match[str]) -> str:
        examples.append(Example(caption=match["caption"].strip(), source=match["source"]))
        return "\n\n" + _PLACEHOLDER.format(len(examples) - 1) + "\n\n"

    body = _EXAMPLE_RE.sub(cut, body)
    html = docs_html(body)

    sections: list[str | Example] = []
    for index, piece in enumerate(_PLACEHOLDER_RE.split(html)):
        if index % 2:
            sections.append(examples[int(piece)])
        elif piece.strip():
            sections.append(piece)
    body_html = _PLACEHOLDER_RE.sub(
        lambda m: (
            '<pre><code class="language-django">'
            f"{escape(examples[int(m.group(1))].source)}</code></pre>"
        ),
        html,
    )
    return ComponentDoc(
        name=name,
        title=str(meta.get("title") or name.replace("-", " ").capitalize()),
        summary=str(meta.get("summary") or ""),
        markdown=text,
        body_html=body_html,
        examples=tuple(examples),
        sections=tuple(sections),
    )


def suggest_components(query: str, *, limit: int = 8) -> list[dict[str, str]]:
    """Components whose name, title or summary contains the query, titles first."""
    needle = query.strip().casefold()
    if not needle:
        return []
    scored = []
    for doc in list_components():
        if needle in doc.title.casefold() or needle in doc.name:
            scored.append((0, doc))
        elif needle in doc.summary.casefold():
            scored.append((1, doc))
    scored.sort(key=lambda pair: (pair[0], pair[1].title))
    return [
        {"title": doc.title, "url": doc.url, "type": "component", "summary": doc.summary}
        for _, doc in scored[:limit]
    ]


# --- live examples ------------------------------------------------------------


class ExampleInstallForm(forms.Form):
    """A small form for the form-field examples."""

    name = forms.CharField(
        max_length=SLUG_MAX_LENGTH,
        validators=[validate_slug],
        help_text="Lowercase letters, digits and dashes.",
    )
    version = forms.ChoiceField(choices=[("1.4.2", "1.4.2"), ("1.3.0", "1.3.0")])
    values = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    dry_run = forms.BooleanField(
        label="Dry run: show the diff only", required=False, help_text="Nothing is changed."
    )


_SAMPLE_APPS = [
    ("log-analyzer", "Log Analyzer", "1.4.2", "observability", "deployed", 12),
    ("node-exporter", "Node Exporter", "1.8.1", "monitoring", "upgrading", 48),
    ("redis-ops", "Redis Ops", "2.0.0", "databases", "failed", 3),
    ("runbook-kit", "Runbook Kit", "0.9.0", "runbooks", "installing", 7),
    ("alert-router", "Alert Router", "3.1.4", "alerting", "uninstalled", 21),
]

_SAMPLE_DIFF = """\
--- a/ops/log-analyzer/deployment.yaml
+++ b/ops/log-analyzer/deployment.yaml
@@ -12,7 +12,8 @@ spec:
       containers:
         - name: analyzer
-          image: registry.local/log-analyzer:1.3.0
+          image: registry.local/log-analyzer:1.4.2
           resources:
             limits:
-              memory: 256Mi
+              memory: 512Mi
+              cpu: 500m
"""

_SAMPLE_VALUES = """\
# values.yaml
replicas: 2
retention: 7d
alerting:
  burst_threshold: 50   # errors per minute
  channel: "#ops-alerts"
"""


def sample_context() -> dict[str, Any]:
    """Everything the component examples may use. Sample data only: the examples are
    rendered for whoever reads the docs and must never show that person's data."""
    base = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)
    apps = [
        {
            "name": name,
            "title": title,
            "version": version,
            "category": category,
            "status": status,
            "installs": installs,
            "updated": base - timedelta(days=index * 3, hours=index),
            "url": f"/market/local/{name}/",
        }
        for index, (name, title, version, category, status, installs) in enumerate(_SAMPLE_APPS)
    ]
    invalid_form = ExampleInstallForm(
        data={"name": "Log Analyzer!", "version": "1.4.2", "values": "", "dry_run": ""}
    )
    invalid_form.is_valid()

    def step(name: str, state: str, start: int, end: int | None, message: str = "") -> dict:
        return {
            "name": name,
            "state": state,
            "started_at": base + timedelta(seconds=start) if start >= 0 else None,
            "finished_at": base + timedelta(seconds=end) if end is not None else None,
            "message": message,
        }

    return {
        "apps": apps,
        "app_columns": [
            {"key": "title", "label": "App", "sortable": True, "kind": "link"},
            {"key": "version", "label": "Version", "kind": "code"},
            {"key": "category", "label": "Category", "sortable": True},
            {"key": "status", "label": "Status", "sortable": True, "kind": "status"},
            {"key": "installs", "label": "Installs", "sortable": True, "kind": "number"},
            {"key": "updated", "label": "Updated", "sortable": True, "kind": "datetime"},
        ],
        "apps_page": Paginator(apps * 3, 4).page(2),
        "no_rows": [],
        "revision_fields": {"revision": "3"},
        "breadcrumbs": [("Market", "/market/"), ("local", "/market/local/"), ("Log Analyzer", "")],
        "states": list(_STATES),
        "install_form": invalid_form,
        "blank_form": ExampleInstallForm(),
        "values_yaml": _SAMPLE_VALUES,
        "manifest_command": "python manage.py market_publish dist/log-analyzer-1.4.2.tgz "
        "--market local",
        "upgrade_diff": _SAMPLE_DIFF,
        "finished_steps": [
            step("resolve dependencies", "succeeded", 0, 1),
            step("render templates", "succeeded", 1, 3),
            step(
                "commit to GitOps", "succeeded", 3, 5, "install ops/log-analyzer log-analyzer@1.4.2"
            ),
            step(
                "wait until healthy",
                "failed",
                5,
                185,
                "Deployment ops/log-analyzer: 0/2 ready after 180s",
            ),
            step("roll back", "rolled_back", 185, 189, "Restored revision 3."),
        ],
        "running_steps": [
            step("resolve dependencies", "succeeded", 0, 1),
            step("render templates", "running", 1, None),
            step("commit to GitOps", "queued", -1, None),
        ],
    }


_STATES = (
    "queued", "running", "succeeded", "failed", "rolled_back", "installing", "deployed",
    "upgrading", "uninstalling", "uninstalled", "active", "revoked", "expired",
)  # fmt: skip


def render_example(example: Example, request: HttpRequest) -> SafeString:
    """Render one example with the real template engine and sample data only. Only the
    query string and path of the request are passed on, so sortable tables and the
    search box behave as they would on a real page."""
    sample_request = HttpRequest()
    sample_request.method = "GET"
    sample_request.path = request.path
    sample_request.GET = request.GET.copy()
    context = sample_context()
    context.update({"request": sample_request, "csrf_token": get_token(request)})
    compiled = engines["django"].engine.from_string(example.source)  # type: ignore[attr-defined]
    return compiled.render(Context(context))
