"""Why a package is refused: one short machine code and one line for people."""

from __future__ import annotations

# Every code read_package / build_package may raise, with what it means. The API maps a
# refusal to HTTP 400 (413 for the size codes) and the CLI to exit status 1.
REFUSAL_CODES: dict[str, str] = {
    "not_gzip": "the archive is not a gzip stream, or its compressed data is corrupt",
    "truncated": "the gzip stream or the tar inside it ends early",
    "trailing_garbage": "bytes follow the gzip stream or the end of the tar archive",
    "tar_invalid": "the tar headers cannot be read",
    "symlink": "a member is a symbolic link",
    "hardlink": "a member is a hard link",
    "device": "a member is a character or block device",
    "fifo": "a member is a named pipe",
    "member_type": "a member is neither a regular file nor a directory",
    "absolute_path": "a member path is absolute",
    "traversal": "a member path contains ..",
    "bad_path": "a member path is empty, not canonical or has unsafe characters",
    "outside_root": "a member does not sit under NAME/",
    "duplicate_member": "a member path repeats",
    "path_conflict": "a path is both a file and a directory",
    "too_many_members": "more members than PACKAGE_MAX_MEMBERS",
    "too_large": "over PACKAGE_MAX_TOTAL_BYTES uncompressed, or a file over PACKAGE_MAX_FILE_BYTES",
    "ratio": "the compression ratio is over PACKAGE_MAX_RATIO",
    "manifest_missing": "NAME/manifest.yaml is missing",
    "manifest_yaml": "manifest.yaml is not safe, valid YAML (anchors, tags, duplicate keys...)",
    "manifest_field": "a manifest field breaks its rule",
    "name_mismatch": "the manifest name differs from the folder name",
    "filename_mismatch": "the file name is not NAME-VERSION.tgz for the manifest",
    "component_empty": "a component's template globs match no template",
    "values_yaml": "values.yaml is not a safe, valid YAML mapping",
    "values_schema_invalid": "values.schema.json is not valid JSON or not a valid JSON Schema",
    "values_schema": "values.yaml does not satisfy values.schema.json",
    "template_syntax": "a template does not parse",
    "render_limit": "rendering the templates takes more memory, time or output than allowed",
    "encoding": "a text file (README, docs, templates) is not UTF-8",
    "icon_too_large": "icon.svg or icon.png is over 256 KiB",
    "icon_invalid": "icon.png is not a PNG or icon.svg is not SVG text",
    "source_invalid": "a build source folder is missing or has no manifest.yaml",
    "special_file": "a build source folder holds a device, FIFO or socket",
    # Source builds (the builds app).
    "archive_invalid": "an uploaded source or bundle is not a readable gzip tar or zip",
    "git_ref": "a git ref is not a branch, tag or commit name",
    "git_failed": "fetching the git source failed",
    "unknown_variable": "a *.tpl file names a variable the resource profile does not define",
    "render_conflict": "a rendered *.tpl file would replace a file of the source",
    "host_not_allowed": "a strict build names hosts the resource profile does not allow",
}

# Refusals an HTTP API reports as 413 Payload Too Large rather than 400.
SIZE_CODES = frozenset({"too_large", "too_many_members", "ratio", "icon_too_large"})


class PackageRefused(Exception):
    """A package that must not be accepted. ``code`` is one of REFUSAL_CODES, ``reason``
    one line naming the offending member where there is one."""

    def __init__(self, code: str, reason: str) -> None:
        if code not in REFUSAL_CODES:
            raise ValueError(f"unknown refusal code {code!r}")
        self.code = code
        self.reason = one_line(reason)
        super().__init__(self.reason)

    def __repr__(self) -> str:
        return f"PackageRefused({self.code!r}, {self.reason!r})"


def one_line(text: str, limit: int = 500) -> str:
    """Collapse whitespace runs (newlines included) and cut overly long text."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
