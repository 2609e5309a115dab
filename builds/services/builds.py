"""Source builds: asked for here, run by the worker (builds.tasks, then build_execute).

A build takes a source (an uploaded archive, or a git repository and ref) into a
fresh sandbox folder, renders its ``*.tpl`` files with the resource variables,
runs the air-gap lint, packs and validates the package with build_package, keeps
the archive under BUILDS_DIR/<id>/ and, when asked, publishes it.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from builds.models import Build
from builds.selectors import build_resources, may_build
from market.models import Market
from market.netguard import check_url
from market.services.publish import can_publish
from market.storage.base import StorageError
from portal.actors import Actor
from portal.permissions import is_staff
from portal.queue import enqueue_on_commit
from portal.services.audit import audit_record
from portal.services.errors import Forbidden, Invalid, NotFound


def builds_dir() -> Path:
    return Path(settings.BUILDS_DIR)


def build_archive_path(build: Build) -> Path | None:
    """Where a succeeded build's archive is kept, or None."""
    if not build.archive_name:
        return None
    return builds_dir() / str(build.pk) / build.archive_name


def check_git_url(url: str, *, actor: Actor) -> str:
    """http(s) URLs pass the market network guard (private addresses only with
    BUILD_GIT_ALLOW_PRIVATE_NETWORK); file:// URLs name folders on this server, so
    only staff and the command line may use them. Credentials in the URL are
    refused: they would be stored and shown with the build."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if parts.username is not None or parts.password is not None:
            raise Invalid("git_url: credentials in the URL are not accepted")
        try:
            check_url(url, allow_private=settings.BUILD_GIT_ALLOW_PRIVATE_NETWORK)
        except StorageError as exc:
            raise Invalid(f"git_url: {exc}") from None
        return url
    if scheme == "file":
        if actor.user is not None and not is_staff(actor.user):
            raise Forbidden("git_url: only staff may build from file:// repositories")
        if not parts.path or not Path(parts.path).is_dir():
            raise Invalid(f"git_url: {parts.path or url} is not a folder on this server")
        return url
    raise Invalid("git_url: only http://, https:// and file:// repositories are accepted")


def _publish_target(actor: Actor, name: str | None) -> Market | None:
    if not name:
        return None
    market = Market.objects.filter(name=name).first()
    if market is None:
        raise Invalid(f"publish_market: no market named {name}")
    if not market.writable:
        raise Invalid(f"publish_market: market {name} is read-only")
    if actor.user is not None and not can_publish(actor.user, market):
        raise Forbidden(f"you may not publish to {name}")
    return market


def build_create(
    *,
    actor: Actor,
    archive: bytes | None = None,
    filename: str = "",
    git_url: str = "",
    ref: str = "",
    profile_name: str | None = None,
    overrides: Mapping[str, str] | None = None,
    strict: bool = False,
    publish_market: str | None = None,
) -> Build:
    """Record a build and queue it.

    1. check the actor may build, the source (exactly one of archive and git_url),
       the profile, the overrides and the market to publish to;
    2. snapshot the effective resources and allowed hosts;
    3. keep an upload under BUILDS_DIR/uploads (before the transaction: a row never
       names a file that is not there);
    4. create the row with an audit record, and queue the worker after commit.
    """
    if actor.user is not None and not may_build(actor.user):
        raise Forbidden("building needs the operator or admin role in a team")
    if (archive is None) == (not git_url):
        raise Invalid("give either an archive or a git_url")
    if git_url:
        git_url = check_git_url(git_url, actor=actor)
        ref = ref.strip() or "HEAD"
    try:
        chosen = build_resources(profile_name=profile_name, overrides=overrides)
    except NotFound as exc:
        raise Invalid(f"profile: {exc.message}") from None
    profile = chosen.profile
    market = _publish_target(actor, publish_market)

    upload = ""
    if archive is not None:
        uploads = builds_dir() / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        upload = f"{uuid.uuid4().hex}.bin"
        (uploads / upload).write_bytes(archive)
    try:
        with transaction.atomic():
            build = Build.objects.create(
                created_by=actor.user if actor.user is not None else None,
                created_by_label=actor.label,
                via=actor.via,
                source_kind=Build.SourceKind.GIT if git_url else Build.SourceKind.ARCHIVE,
                source=git_url or (filename or "upload")[:1000],
                ref=ref if git_url else "",
                upload=upload,
                profile=profile,
                profile_name=profile.name if profile else "",
                overrides=dict(overrides or {}),
                strict=strict,
                publish_market=market,
                resources=[
                    {"name": r.name, "value": r.value, "origin": r.origin} for r in chosen.resources
                ],
                allowed_hosts=chosen.allowed_hosts,
            )
            audit_record(
                actor=actor,
                action="build.create",
                target=build,
                detail={
                    "source": build.source,
                    "ref": build.ref,
                    "profile": build.profile_name,
                    "strict": strict,
                    "publish_market": market.name if market else "",
                },
            )
            from builds.tasks import build_run_task

            enqueue_on_commit(build_run_task, build.pk)
    except BaseException:
        if upload:
            (builds_dir() / "uploads" / upload).unlink(missing_ok=True)
        raise
    return build


def sandbox_create() -> Path:
    root = builds_dir() / "sandbox"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="build-", dir=root))


def sandbox_remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def resources_of(build: Build) -> dict[str, str]:
    return {str(r["name"]): str(r["value"]) for r in build.resources}
