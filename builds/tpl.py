"""Rendering ``*.tpl`` files with the build's resource variables, like envsubst.

Only the braced form ``${NAME}`` is replaced (``NAME`` is upper case, digits and
underscores); ``$${NAME}`` stands for a literal ``${NAME}``. Unlike envsubst, a
variable the resources do not define is an error naming the file and line: an
empty image or mirror address would only fail later, far from its cause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from market.package import PackageRefused, SourceFile

VARIABLE = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
SUFFIX = ".tpl"


def render_text(text: str, resources: Mapping[str, str], *, path: str) -> str:
    """``text`` with every ``${NAME}`` replaced; PackageRefused for an unknown name."""

    def substitute(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return "${" + name + "}"
        if name not in resources:
            line = text.count("\n", 0, match.start()) + 1
            raise PackageRefused("unknown_variable", f"{path}:{line}: unknown variable ${{{name}}}")
        return resources[name]

    return VARIABLE.sub(substitute, text)


def render_tpl_files(files: list[SourceFile], resources: Mapping[str, str]) -> list[SourceFile]:
    """Each ``x.tpl`` becomes ``x``, rendered; other files pass unchanged. A rendered
    file may not collide with a file of the same name in the source."""
    names = {f.path for f in files}
    out: list[SourceFile] = []
    for item in files:
        if not item.path.endswith(SUFFIX) or item.path == SUFFIX:
            out.append(item)
            continue
        target = item.path[: -len(SUFFIX)]
        if target in names:
            raise PackageRefused(
                "render_conflict", f"{item.path} would render over {target}, which also exists"
            )
        try:
            text = item.data.decode("utf-8")
        except UnicodeDecodeError:
            raise PackageRefused("encoding", f"{item.path} is not UTF-8 text") from None
        rendered = render_text(text, resources, path=item.path)
        out.append(replace(item, path=target, data=rendered.encode("utf-8")))
    return out
