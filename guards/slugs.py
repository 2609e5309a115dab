"""Slugs: the one rule for the names of teams, namespaces, instances, markets, apps,
build profiles and bundles.

A slug is a DNS-1123 label: 1 to 63 characters, lowercase ASCII letters, digits and
``-``, starting and ending with a letter or digit. Each of those names ends up as a
Kubernetes name or namespace, a folder of the GitOps repository, a storage key
segment (``apps/<name>/``) or a URL segment, and the label rule is the one all of
them accept unchanged: no case folding, no escaping, no dots that could read as
``..`` or a hidden file.

Matched with ``fullmatch``, never ``^...$`` with ``match``/``search``: ``$`` also
matches before a final newline, so ``"web\\n"`` would pass as a name and then split
a commit message, a log line or a path.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

SLUG_MAX_LENGTH = 63
# For URL patterns and other regexes that embed the rule; no groups that capture.
SLUG_PATTERN = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
SLUG_MESSAGE = "Use lowercase letters, digits and dashes; start and end with a letter or digit."

_SLUG = re.compile(SLUG_PATTERN)


def is_slug(value: object) -> bool:
    """Whether ``value`` is a string that follows the rule."""
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


def validate_slug(value: object) -> None:
    """The rule as a Django validator (model fields, forms, DRF serializers, services)."""
    if not is_slug(value):
        raise ValidationError(SLUG_MESSAGE, code="invalid")


__all__ = ["SLUG_MAX_LENGTH", "SLUG_MESSAGE", "SLUG_PATTERN", "is_slug", "validate_slug"]
