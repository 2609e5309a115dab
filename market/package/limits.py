"""Size limits for reading packages: Django settings when configured, defaults otherwise."""

from __future__ import annotations

import os
from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_members: int = 1000
    max_total_bytes: int = 100 * MiB
    max_file_bytes: int = 10 * MiB
    max_ratio: int = 100
    max_icon_bytes: int = 256 * 1024
    # Below this many uncompressed bytes the ratio means nothing (tar pads every archive
    # to 10 KiB of mostly zeros) and is not enforced.
    ratio_floor_bytes: int = 1 * MiB

    @classmethod
    def from_settings(cls) -> Limits:
        """PACKAGE_MAX_MEMBERS, _TOTAL_BYTES, _FILE_BYTES and _RATIO from Django settings;
        the defaults above when Django is not configured (scripts, plain unit tests)."""
        try:
            from django.conf import settings
            from django.core.exceptions import ImproperlyConfigured
        except ImportError:  # pragma: no cover - Django is a dependency
            return cls()
        if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
            return cls()
        defaults = cls()
        try:
            return cls(
                max_members=int(getattr(settings, "PACKAGE_MAX_MEMBERS", defaults.max_members)),
                max_total_bytes=int(
                    getattr(settings, "PACKAGE_MAX_TOTAL_BYTES", defaults.max_total_bytes)
                ),
                max_file_bytes=int(
                    getattr(settings, "PACKAGE_MAX_FILE_BYTES", defaults.max_file_bytes)
                ),
                max_ratio=int(getattr(settings, "PACKAGE_MAX_RATIO", defaults.max_ratio)),
            )
        except ImproperlyConfigured:
            return defaults
