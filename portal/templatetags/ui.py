"""Template tags of the UI component library (loaded as a builtin in every template).

Every component is one template, ``templates/components/<name>.html``, rendered by one
tag named after it with dashes turned into underscores:

- leaf components are simple tags: ``{% status_badge "running" %}``;
- containers wrap a body: ``{% card title="Values" %}...{% endcard %}``,
  ``{% tabs %}{% tab "Overview" %}...{% endtab %}{% endtabs %}``.

Each component is documented, with live examples, in ``docs/components/<name>.md``
and served at ``/docs/components/<name>/``. Everything a component prints goes through
the template engine's autoescaping; the only strings marked safe are bodies that the
template engine itself has just rendered.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from inspect import getfullargspec, unwrap
from typing import Any

from django import template
from django.core.paginator import Page
from django.forms import BoundField
from django.http import HttpRequest, QueryDict
from django.template.base import FilterExpression, NodeList, Parser, Token
from django.template.context import Context
from django.template.library import parse_bits
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

register = template.Library()


# --- helpers ----------------------------------------------------------------


def _lookup(obj: Any, key: str, default: Any = None) -> Any:
    """Read ``key`` from a mapping or an attribute: rows and steps may be API JSON
    (dicts) or model instances. Callables are called the way templates call them,
    except those marked ``alters_data``."""
    if obj is None:
        return default
    value = obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)
    if callable(value) and not isinstance(value, type):
        if getattr(value, "alters_data", False) or getattr(
            value, "do_not_call_in_templates", False
        ):
            return default
        value = value()
    return value


def _pair(item: Any, first: str, second: str) -> tuple[Any, Any]:
    """A ``(label, url)``-like pair from a tuple/list or a mapping/object."""
    if isinstance(item, list | tuple):
        return (item[0], item[1] if len(item) > 1 else None)
    return (_lookup(item, first), _lookup(item, second))


def _new_id(prefix: str) -> str:
    # Random rather than a counter: several templates rendered separately (the
    # component docs render each example on its own) share one page.
    return f"{prefix}-{secrets.token_hex(4)}"


def _request(context: Context) -> HttpRequest | None:
    request = context.get("request")
    return request if isinstance(request, HttpRequest) else None


def _query(request: HttpRequest | None, **changes: str | None) -> str:
    """The current query string with ``changes`` applied (None removes a key), as ``?...``."""
    params = request.GET.copy() if request is not None else QueryDict(mutable=True)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


def format_duration(seconds: float) -> str:
    """``0.4s``, ``42s``, ``3m 07s``, ``2h 05m``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


@register.filter
def duration(seconds: Any) -> str:
    """Seconds as ``format_duration`` words them; empty for no number."""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return ""
    return format_duration(float(seconds))


class ContainerNode(template.Node):
    """A component with a body: the body is rendered first, then handed to the
    component's function as ``body``, and the result fills the component template."""

    def __init__(
        self,
        func: Callable[..., dict[str, Any]],
        template_name: str,
        args: list[FilterExpression],
        kwargs: dict[str, FilterExpression],
        nodelist: NodeList,
    ) -> None:
        self.func = func
        self.template_name = template_name
        self.args = args
        self.kwargs = kwargs
        self.nodelist = nodelist

    def render(self, context: Context) -> SafeString:
        body = self.nodelist.render(context).strip()
        args = [arg.resolve(context) for arg in self.args]
        kwargs = {key: value.resolve(context) for key, value in self.kwargs.items()}
        # The body was rendered, and escaped, by the template engine just above.
        values = self.func(context, mark_safe(body), *args, **kwargs)  # noqa: S308
        component = context.template.engine.get_template(self.template_name)  # type: ignore[union-attr]
        return component.render(context.new(values))


def container_tag(
    name: str, template_name: str
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Register ``{% name ... %}body{% endname %}``. The function takes ``(context, body,
    <the tag's own parameters>)`` and returns the component template's context."""

    def decorator(func: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        spec = getfullargspec(unwrap(func))
        params = spec.args[2:]  # past context and body

        def compile_tag(parser: Parser, token: Token) -> ContainerNode:
            bits = token.split_contents()[1:]
            args, kwargs = parse_bits(
                parser,
                bits,
                params,
                spec.varargs,
                spec.varkw,
                spec.defaults,
                spec.kwonlyargs,
                spec.kwonlydefaults,
                False,
                name,
            )
            nodelist = parser.parse((f"end{name}",))
            parser.delete_first_token()
            return ContainerNode(func, template_name, args, kwargs, nodelist)

        register.tag(name, compile_tag)
        return func

    return decorator


# --- shell --------------------------------------------------------------------


@register.simple_tag(takes_context=True)
def nav_link(context: Context, label: str, href: str, match: str = "") -> SafeString:
    """A header navigation link, marked current when the path starts with one of the
    space-separated prefixes in ``match`` (``href`` by default)."""
    request = _request(context)
    prefixes = tuple((match or href).split())
    current = request is not None and request.path.startswith(prefixes)
    if current:
        return format_html(
            '<a class="nav__link is-active" href="{}" aria-current="page">{}</a>', href, label
        )
    return format_html('<a class="nav__link" href="{}">{}</a>', href, label)


# --- page-header --------------------------------------------------------------


@container_tag("page_header", "components/page-header.html")
def page_header(
    context: Context,
    body: SafeString,
    title: str,
    subtitle: str = "",
    breadcrumbs: Iterable[Any] | None = None,
) -> dict[str, Any]:
    crumbs = [_pair(item, "label", "url") for item in (breadcrumbs or [])]
    return {
        "title": title,
        "subtitle": subtitle,
        "breadcrumbs": [{"label": label, "url": url} for label, url in crumbs],
        "actions": body,
    }


# --- card ---------------------------------------------------------------------


@container_tag("card", "components/card.html")
def card(
    context: Context,
    body: SafeString,
    title: str = "",
    subtitle: str = "",
    href: str = "",
    footer: str = "",
) -> dict[str, Any]:
    return {"title": title, "subtitle": subtitle, "href": href, "footer": footer, "body": body}


# --- status-badge -------------------------------------------------------------

# Operation, instance and token states (SPEC section 5) and the tone each is shown in.
STATUS_TONES: dict[str, str] = {
    "queued": "neutral",
    "running": "info",
    "succeeded": "success",
    "failed": "danger",
    "rolled_back": "warning",
    "installing": "info",
    "deployed": "success",
    "upgrading": "info",
    "uninstalling": "info",
    "uninstalled": "neutral",
    "active": "success",
    "revoked": "danger",
    "expired": "neutral",
    # Kubernetes clusters (deployments.models.Cluster.state); "degraded" is also a
    # live health below.
    "reachable": "success",
    "degraded": "warning",
    "unreachable": "danger",
    # Live state of an instance's objects (SPEC section 9): sync, then health.
    "synced": "success",
    "drifted": "warning",
    "missing": "danger",
    "committed": "neutral",
    "healthy": "success",
    "progressing": "info",
    # Scrape targets of instance metrics (SPEC section 10).
    "up": "success",
    "down": "danger",
    # Yanked versions and advisory severities (SPEC 14).
    "yanked": "danger",
    "critical": "danger",
    "high": "danger",
    "moderate": "warning",
    "low": "neutral",
}
# States in which something is still happening: the badge shows a pulsing dot.
LIVE_STATES = frozenset({"queued", "running", "installing", "upgrading", "uninstalling"})


def status_context(state: Any, label: str = "") -> dict[str, Any]:
    key = str(state or "").strip().lower()
    tone = STATUS_TONES.get(key, "neutral")
    return {
        "state": slugify(key).replace("-", "_") or "unknown",
        "tone": tone,
        "live": key in LIVE_STATES,
        "label": label or (key.replace("_", " ").capitalize() if key else "Unknown"),
    }


@register.inclusion_tag("components/status-badge.html")
def status_badge(state: Any, label: str = "") -> dict[str, Any]:
    return status_context(state, label)


# --- data-table ---------------------------------------------------------------

COLUMN_KINDS = frozenset({"text", "status", "link", "code", "number", "datetime", "date"})


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sortable: bool = False
    kind: str = "text"
    link: str = "url"


def _column(spec: Any) -> Column:
    if isinstance(spec, Column):
        return spec
    if isinstance(spec, list | tuple):
        key, label = spec[0], spec[1] if len(spec) > 1 else spec[0]
        return Column(key=key, label=label)
    kind = _lookup(spec, "kind", "text") or "text"
    if kind not in COLUMN_KINDS:
        raise template.TemplateSyntaxError(f"data_table: unknown column kind {kind!r}")
    key = _lookup(spec, "key")
    return Column(
        key=key,
        label=_lookup(spec, "label", key) or key,
        sortable=bool(_lookup(spec, "sortable", False)),
        kind=kind,
        link=_lookup(spec, "link", "url") or "url",
    )


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers and dates in order, then text case-insensitively, then blanks last."""
    if value is None or value == "":
        return (2, "")
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float | Decimal):
        return (0, float(value))
    if isinstance(value, datetime):
        return (0, value.timestamp())
    if isinstance(value, date):
        return (0, float(value.toordinal()) * 86400)
    return (1, str(value).casefold())


def _sort_value(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else str(value)


def parse_sort(value: str | None, allowed: Iterable[str], default: str = "") -> str:
    """A ``?sort=`` value checked against the sortable keys: ``name`` or ``-name``.
    Views that sort a queryset themselves call this before paginating."""
    allowed_keys = set(allowed)
    if value:
        key = value[1:] if value.startswith("-") else value
        if key in allowed_keys:
            return value
    return default


@register.inclusion_tag("components/data-table.html", takes_context=True)
def data_table(
    context: Context,
    columns: Iterable[Any],
    rows: Any = None,
    page: Page[Any] | None = None,
    sort: str | None = None,
    empty: str = "Nothing to show yet.",
    caption: str = "",
    sort_param: str = "sort",
    page_param: str = "page",
) -> dict[str, Any]:
    request = _request(context)
    cols = [_column(spec) for spec in columns]
    if page is None and isinstance(rows, Page):
        page = rows
    if rows is None or rows is page:
        items = list(page.object_list) if page is not None else []
    else:
        items = list(rows)

    sortable = [col.key for col in cols if col.sortable]
    if sort is None and request is not None:
        sort = request.GET.get(sort_param)
    sort = parse_sort(sort, sortable)
    sort_key = sort.lstrip("-")
    descending = sort.startswith("-")
    # A paginated table is sorted by the view before paginating; a complete list of
    # rows is sorted here so that the ?sort= links work without JavaScript too.
    if sort and page is None:
        keyed = [(_sort_key(_lookup(row, sort_key)), row) for row in items]
        filled = [pair for pair in keyed if pair[0][0] != 2]
        blank = [row for key, row in keyed if key[0] == 2]  # blanks last either way
        filled.sort(key=lambda pair: pair[0], reverse=descending)
        items = [row for _, row in filled] + blank

    headers = []
    for col in cols:
        header: dict[str, Any] = {"column": col, "aria_sort": "", "href": ""}
        if col.sortable:
            active = col.key == sort_key
            header["aria_sort"] = ("descending" if descending else "ascending") if active else ""
            next_sort = f"-{col.key}" if active and not descending else col.key
            header["href"] = _query(request, **{sort_param: next_sort, page_param: None})
        headers.append(header)

    body = []
    for row in items:
        cells = []
        for col in cols:
            value = _lookup(row, col.key)
            cells.append(
                {
                    "kind": col.kind,
                    # The column's name beside the value when a phone stacks the rows.
                    "label": col.label,
                    "value": value,
                    "url": _lookup(row, col.link) if col.kind == "link" else "",
                    "sort_value": _sort_value(value),
                    "status": status_context(value) if col.kind == "status" else None,
                }
            )
        body.append(cells)

    pagination = None
    if page is not None:
        pagination = {
            "page": page,
            "previous": _query(request, **{page_param: str(page.previous_page_number())})
            if page.has_previous()
            else "",
            "next": _query(request, **{page_param: str(page.next_page_number())})
            if page.has_next()
            else "",
        }
    return {
        "id": _new_id("table"),
        "headers": headers,
        "rows": body,
        "colspan": len(cols),
        "empty": empty,
        "caption": caption,
        "client_sort": page is None and bool(sortable),
        "pagination": pagination,
    }


# --- form-field ---------------------------------------------------------------


@register.inclusion_tag("components/form-field.html")
def form_field(
    field: BoundField, label: str = "", help: str = "", placeholder: str = ""
) -> dict[str, Any]:
    if not isinstance(field, BoundField):
        raise template.TemplateSyntaxError("form_field expects a bound form field (form.name)")
    widget = field.field.widget
    input_type = getattr(widget, "input_type", "")
    help_text = help or field.help_text
    field_id = field.id_for_label or field.auto_id or field.html_name
    described = []
    if help_text:
        described.append(f"{field_id}_helptext")
    if field.errors:
        described.append(f"{field_id}_error")

    attrs: dict[str, Any] = {}
    css = str(widget.attrs.get("class", "")).split()
    if input_type not in {"checkbox", "radio", "hidden"}:
        css.append("input")
    if css:
        attrs["class"] = " ".join(dict.fromkeys(css))
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if placeholder:
        attrs["placeholder"] = placeholder
    return {
        "id": field_id,
        "label": label or field.label,
        "help": help_text,
        "errors": list(field.errors),
        "required": field.field.required,
        "widget": field.as_widget(attrs=attrs),
        "is_hidden": field.is_hidden,
        # Radio buttons and checkbox lists: a <fieldset> whose <legend> names the group.
        "use_fieldset": field.use_fieldset,
        "is_checkbox": input_type == "checkbox",
    }


# --- confirm-dialog -----------------------------------------------------------


@register.inclusion_tag("components/confirm-dialog.html", takes_context=True)
def confirm_dialog(
    context: Context,
    action: str,
    label: str,
    title: str = "",
    message: str = "",
    confirm_label: str = "",
    danger: bool = False,
    confirm_text: str = "",
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": _new_id("confirm"),
        "action": action,
        "label": label,
        "title": title or f"{label}?",
        "message": message,
        "confirm_label": confirm_label or label,
        "danger": danger,
        "confirm_text": confirm_text,
        "fields": sorted((fields or {}).items()),
        "csrf_token": context.get("csrf_token"),
    }


# --- code-block, diff-block ---------------------------------------------------


@register.inclusion_tag("components/code-block.html")
def code_block(code: Any, language: str = "", title: str = "", copy: bool = True) -> dict[str, Any]:
    return {
        "id": _new_id("code"),
        "code": "" if code is None else str(code).rstrip("\n"),
        "language": slugify(language),
        "title": title or language,
        "copy": copy,
    }


def parse_unified_diff(text: str) -> list[dict[str, Any]]:
    """Lines of a unified diff with their kind and old/new line numbers."""
    lines: list[dict[str, Any]] = []
    old_no = new_no = 0
    for raw in text.splitlines():
        line: dict[str, Any] = {"text": raw, "old": "", "new": ""}
        if raw.startswith(("--- ", "+++ ", "diff ", "index ")):
            line["kind"] = "file"
        elif raw.startswith("@@"):
            line["kind"] = "hunk"
            try:
                ranges = raw.split("@@")[1].split()
                old_no = int(ranges[0][1:].split(",")[0])
                new_no = int(ranges[1][1:].split(",")[0])
            except (IndexError, ValueError):
                old_no = new_no = 0
        elif raw.startswith("+"):
            line.update(kind="add", new=new_no or "")
            new_no += 1 if new_no else 0
        elif raw.startswith("-"):
            line.update(kind="del", old=old_no or "")
            old_no += 1 if old_no else 0
        elif raw.startswith("\\"):
            line["kind"] = "meta"
        else:
            line.update(kind="context", old=old_no or "", new=new_no or "")
            old_no += 1 if old_no else 0
            new_no += 1 if new_no else 0
        lines.append(line)
    return lines


@register.inclusion_tag("components/diff-block.html")
def diff_block(diff: Any, title: str = "", copy: bool = True, wrap: bool = False) -> dict[str, Any]:
    lines = parse_unified_diff("" if diff is None else str(diff))
    return {
        "id": _new_id("diff"),
        "title": title,
        "wrap": wrap,
        "lines": lines,
        "added": sum(1 for line in lines if line["kind"] == "add"),
        "removed": sum(1 for line in lines if line["kind"] == "del"),
        "copy": copy,
    }


# --- step-timeline ------------------------------------------------------------


@register.inclusion_tag("components/step-timeline.html")
def step_timeline(
    steps: Iterable[Any],
    poll_url: str = "",
    id: str = "step-timeline",
    active: bool | None = None,
) -> dict[str, Any]:
    items = []
    for step in steps or []:
        state = str(_lookup(step, "state", "") or "")
        started = _as_datetime(_lookup(step, "started_at"))
        finished = _as_datetime(_lookup(step, "finished_at"))
        duration = ""
        if started and finished and finished >= started:
            duration = format_duration((finished - started) / timedelta(seconds=1))
        items.append(
            {
                "name": _lookup(step, "name", ""),
                "state": state,
                "status": status_context(state),
                "started_at": started,
                "finished_at": finished,
                "duration": duration,
                "message": _lookup(step, "message", "") or "",
                "log": _lookup(step, "log", "") or "",
            }
        )
    # A queued operation, or one between two steps, has no live step: the caller who
    # knows the operation's state says so with ``active``.
    in_progress = any(item["status"]["live"] for item in items) if active is None else active
    return {"id": id, "steps": items, "poll_url": poll_url if in_progress else ""}


# --- tabs ---------------------------------------------------------------------


class TabNode(template.Node):
    def __init__(
        self, label: FilterExpression, kwargs: dict[str, FilterExpression], nodelist: NodeList
    ) -> None:
        self.label = label
        self.kwargs = kwargs
        self.nodelist = nodelist

    def render(self, context: Context) -> str:
        raise template.TemplateSyntaxError("{% tab %} must sit directly inside {% tabs %}")


class TabsNode(template.Node):
    template_name = "components/tabs.html"

    def __init__(self, kwargs: dict[str, FilterExpression], tabs: list[TabNode]) -> None:
        self.kwargs = kwargs
        self.tabs = tabs

    def render(self, context: Context) -> SafeString:
        options = {key: value.resolve(context) for key, value in self.kwargs.items()}
        prefix = slugify(options.get("id") or "") or _new_id("tabs")
        active = str(options.get("active") or "")
        tabs: list[dict[str, Any]] = []
        for node in self.tabs:
            label = str(node.label.resolve(context))
            extra = {key: value.resolve(context) for key, value in node.kwargs.items()}
            slug = slugify(extra.get("id") or label) or f"tab{len(tabs) + 1}"
            with context.push():
                body = node.nodelist.render(context)
            tabs.append(
                {
                    "label": label,
                    "slug": slug,
                    "panel_id": f"{prefix}-{slug}",
                    "count": extra.get("count"),
                    "body": mark_safe(body),  # noqa: S308 - rendered by the engine above
                }
            )
        selected = next((tab for tab in tabs if active in (tab["slug"], tab["label"])), None)
        for index, tab in enumerate(tabs):
            tab["active"] = tab is selected if selected else index == 0
        component = context.template.engine.get_template(self.template_name)  # type: ignore[union-attr]
        values = {"id": prefix, "label": options.get("label", ""), "tabs": tabs}
        return component.render(context.new(values))


def _kwargs(parser: Parser, bits: list[str], tag: str) -> dict[str, FilterExpression]:
    kwargs = template.base.token_kwargs(bits, parser)
    if bits:
        raise template.TemplateSyntaxError(f"{tag}: expected key=value arguments, got {bits[0]!r}")
    return kwargs


@register.tag("tabs")
def do_tabs(parser: Parser, token: Token) -> TabsNode:
    """``{% tabs id="instance" label="Instance" active="values" %}`` then ``{% tab %}`` blocks."""
    kwargs = _kwargs(parser, token.split_contents()[1:], "tabs")
    nodelist = parser.parse(("endtabs",))
    parser.delete_first_token()
    tabs = []
    for node in nodelist:
        if isinstance(node, TabNode):
            tabs.append(node)
        elif not (isinstance(node, template.base.TextNode) and not node.s.strip()):
            raise template.TemplateSyntaxError("{% tabs %} may only contain {% tab %} blocks")
    if not tabs:
        raise template.TemplateSyntaxError("{% tabs %} needs at least one {% tab %}")
    return TabsNode(kwargs, tabs)


@register.tag("tab")
def do_tab(parser: Parser, token: Token) -> TabNode:
    """``{% tab "Values" id="values" count=3 %}...{% endtab %}``."""
    bits = token.split_contents()[1:]
    if not bits or "=" in bits[0]:
        raise template.TemplateSyntaxError("{% tab %} needs a label first")
    label = parser.compile_filter(bits[0])
    kwargs = _kwargs(parser, bits[1:], "tab")
    nodelist = parser.parse(("endtab",))
    parser.delete_first_token()
    return TabNode(label, kwargs, nodelist)


# --- search-box ---------------------------------------------------------------


@register.inclusion_tag("components/search-box.html", takes_context=True)
def search_box(
    context: Context,
    action: str = "/search/",
    name: str = "q",
    value: str | None = None,
    suggest_url: str = "/search/suggest/",
    placeholder: str = "Search apps, instances, docs…",
    label: str = "Search",
    min_chars: int = 2,
    shortcut: str = "",
) -> dict[str, Any]:
    request = _request(context)
    if value is None:
        # The box shows the query only on the page it submits to.
        on_results = request is not None and request.path == action
        value = request.GET.get(name, "") if on_results and request is not None else ""
    return {
        "id": _new_id("search"),
        "action": action,
        "name": name,
        "value": value,
        "suggest_url": suggest_url,
        "placeholder": placeholder,
        "label": label,
        "min_chars": min_chars,
        # Only "/" is wired up (static/js/portal.js), for one box per page: the header's.
        "shortcut": shortcut if shortcut == "/" else "",
    }
