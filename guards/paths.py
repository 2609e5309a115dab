"""Safe relative slash paths: the one rule for storage keys, GitOps manifest paths,
package members and build-source members.

Every one of those paths is joined below a root (a market folder, a bucket prefix,
a repository tree, a sandbox) by code that must not be able to leave the root or
name one file two ways. So a path is refused when it:

- is empty, or not encodable as UTF-8 (a lone surrogate has no file name on disk);
- is longer than the caller's byte limit, when it gives one;
- is absolute: a leading ``/``, or a drive letter (``C:``) that Windows tools and
  some archivers treat as absolute;
- holds a character that is not printable (NUL, newline, ESC, other control and
  format characters): a newline splits log lines and git's line-based output, a NUL
  truncates C strings, and invisible characters make two names look alike;
- holds a backslash, which is a separator on Windows and in some archivers, so
  ``a\\..\\b`` could climb where ``/`` rules see one harmless name;
- has a ``..`` segment (climbs out), or an empty or ``.`` segment (``a//b``,
  ``a/./b``, a trailing ``/``): harmless to the kernel, but then one file has two
  names, which defeats "a name repeats" checks and compare-and-swap keys.

The rule does not normalise: a non-canonical path is refused rather than rewritten,
so what is checked is exactly what is used.
"""

from __future__ import annotations

# Refusal codes, the same words the package reader reports to publishers.
BAD_PATH = "bad_path"
ABSOLUTE_PATH = "absolute_path"
TRAVERSAL = "traversal"


class UnsafePath(ValueError):
    """A path the rule refuses. ``code`` is one of ``bad_path``, ``absolute_path``,
    ``traversal``; ``reason`` is a short phrase without the path ("absolute path")
    that the caller puts after its own name for the path."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


def safe_relative_path(path: str, *, max_bytes: int | None = None) -> list[str]:
    """The segments of ``path`` when it is a safe, canonical, relative slash path;
    else raise ``UnsafePath``. The checks run in the order of the module docstring,
    so the most telling reason wins (``/etc/x`` is absolute before anything else)."""
    if not isinstance(path, str) or not path:
        raise UnsafePath(BAD_PATH, "empty path")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnsafePath(BAD_PATH, "path is not UTF-8") from None
    if max_bytes is not None and size > max_bytes:
        raise UnsafePath(BAD_PATH, f"path is longer than {max_bytes} bytes")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":" and path[0].isalpha()):
        raise UnsafePath(ABSOLUTE_PATH, "absolute path")
    if not path.isprintable():
        raise UnsafePath(BAD_PATH, "control or invisible character in the path")
    if "\\" in path:
        raise UnsafePath(BAD_PATH, "backslash in the path")
    segments = path.split("/")
    if ".." in segments:
        raise UnsafePath(TRAVERSAL, "path contains ..")
    if any(segment in ("", ".") for segment in segments):
        raise UnsafePath(BAD_PATH, "path is not canonical (empty or '.' segment)")
    return segments


def shown_path(path: str, limit: int = 120) -> str:
    """A path fit for a one-line message: unprintable characters escaped, cut short."""
    shown = path if path.isprintable() else ascii(path)[1:-1]
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


__all__ = [
    "ABSOLUTE_PATH",
    "BAD_PATH",
    "TRAVERSAL",
    "UnsafePath",
    "safe_relative_path",
    "shown_path",
]
