"""Reads of the builds app: effective resources, visible builds, profiles.

Precedence of the resource variables, lowest first (README "Intranet builds"):

1. default: SREWorks' build.sh default (settings.BUILD_RESOURCE_DEFAULTS);
2. environment: the same-named environment variable, read at start-up
   (settings.BUILD_RESOURCE_ENVIRONMENT);
3. profile: the values a named resource profile sets;
4. build: the values given for one build (``overrides``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from builds.lint import image_host
from builds.models import Build, ResourceProfile
from builds.tpl import NAME_RE
from portal.models import Role
from portal.permissions import AnyUser, is_staff, teams_with_role
from portal.services.errors import Invalid, NotFound

ORIGIN_DEFAULT = "default"
ORIGIN_ENVIRONMENT = "environment"
ORIGIN_PROFILE = "profile"
ORIGIN_BUILD = "build"


@dataclass(frozen=True)
class Resource:
    name: str
    value: str
    origin: str  # default | environment | profile | build


def check_variables(values: Mapping[str, Any], *, what: str) -> dict[str, str]:
    """Variable names are upper case (as envsubst expects); values are one-line text."""
    checked: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise Invalid(f"{what}: {str(name)[:60]!r} is not a variable name (A-Z, 0-9, _)")
        if not isinstance(value, str) or "\n" in value or len(value) > 1000:
            raise Invalid(f"{what}: {name} must be one line of text")
        checked[name] = value
    return checked


def profile_get(*, name: str) -> ResourceProfile:
    profile = ResourceProfile.objects.filter(name=name).first()
    if profile is None:
        raise NotFound(f"no resource profile named {name}")
    return profile


def effective_resources(
    *, profile: ResourceProfile | None = None, overrides: Mapping[str, str] | None = None
) -> list[Resource]:
    """Every variable with its effective value and where it came from, environment
    variables first in their documented order, then the others by name."""
    layers = [
        (ORIGIN_DEFAULT, dict(settings.BUILD_RESOURCE_DEFAULTS)),
        (ORIGIN_ENVIRONMENT, dict(settings.BUILD_RESOURCE_ENVIRONMENT)),
        (ORIGIN_PROFILE, dict(profile.values) if profile is not None else {}),
        (ORIGIN_BUILD, check_variables(overrides or {}, what="overrides")),
    ]
    merged: dict[str, Resource] = {}
    for origin, values in layers:
        for name, value in values.items():
            merged[name] = Resource(name=name, value=str(value), origin=origin)
    order = list(settings.BUILD_RESOURCE_DEFAULTS)
    extra = sorted(set(merged) - set(order))
    return [merged[name] for name in [*order, *extra]]


@dataclass(frozen=True)
class BuildResources:
    """What a build takes from its profile: the profile row, the effective
    variables and the hosts a strict build may name."""

    profile: ResourceProfile | None
    resources: list[Resource]
    allowed_hosts: list[str]

    def as_dict(self) -> dict[str, str]:
        return {r.name: r.value for r in self.resources}


def build_resources(
    *, profile_name: str | None = None, overrides: Mapping[str, str] | None = None
) -> BuildResources:
    """Resolve a profile name and overrides once for a build, the CLI and templates.
    Raises NotFound for an unknown profile, Invalid for a bad override."""
    profile = profile_get(name=profile_name) if profile_name else None
    resources = effective_resources(profile=profile, overrides=overrides)
    return BuildResources(
        profile=profile,
        resources=resources,
        allowed_hosts=allowed_hosts(profile=profile, resources=resources),
    )


def profile_resources(
    profile_name: str | None = None, overrides: dict[str, str] | None = None
) -> dict[str, str]:
    """The effective resource variables, ``{NAME: value}``: what templates get as
    ``resources`` (render_templates(resources=...)) and ``*.tpl`` files as ``${NAME}``.
    Raises NotFound for an unknown profile, Invalid for a bad override."""
    return build_resources(profile_name=profile_name, overrides=overrides).as_dict()


def value_host(value: str) -> str | None:
    """The host a resource value points at: a URL's host, an image's registry, or
    the value itself when it is a bare host name (APK_REPO_DOMAIN)."""
    value = value.strip()
    if "://" in value:
        return (urlsplit(value).hostname or "").lower() or None
    if "/" not in value and ":" not in value and "." in value:
        return value.lower()
    return image_host(value)


def allowed_hosts(*, profile: ResourceProfile | None, resources: list[Resource]) -> list[str]:
    """The hosts a strict build may name: BUILD_ALLOWED_HOSTS, the profile's list,
    and the hosts of the resource values someone chose (a profile that points
    PYTHON_PIP at a mirror allows that mirror). build.sh's defaults are public
    addresses and allow nothing."""
    hosts: list[str] = [*settings.BUILD_ALLOWED_HOSTS]
    if profile is not None:
        hosts += [str(h) for h in profile.allowed_hosts]
    chosen = (r.value for r in resources if r.origin != ORIGIN_DEFAULT)
    hosts += [h for h in (value_host(v) for v in chosen) if h]
    return sorted({h.strip().lower() for h in hosts if h.strip()})


def may_build(user: AnyUser) -> bool:
    """Staff, and operators or admins of any team: the people who may install and
    publish may also build."""
    if not user.is_authenticated:
        return False
    return is_staff(user) or teams_with_role(user, Role.OPERATOR).exists()


def visible_builds(user: AnyUser) -> QuerySet[Build]:
    """Staff see every build; anyone else sees their own."""
    builds = Build.objects.select_related("profile", "publish_market", "created_by")
    if is_staff(user):
        return builds
    if not user.is_authenticated:
        return builds.none()
    return builds.filter(created_by_id=user.pk)


def build_get_visible(*, user: AnyUser, build_id: int) -> Build:
    build = visible_builds(user).filter(pk=build_id).first()
    if build is None:
        raise Http404("No such build.")
    return build


def profile_list() -> QuerySet[ResourceProfile]:
    return ResourceProfile.objects.order_by("name")
