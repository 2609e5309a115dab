"""`/api/v1/markets/` and `/api/v1/apps/`: subscribe, sync, publish, browse."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from guards.slugs import validate_slug
from market.index import (
    ADVISORY_SEVERITIES,
    MAX_ADVISORY_SUMMARY,
    MAX_YANK_REASON,
    VersionConflict,
)
from market.models import App, AppVersion, Market
from market.package import PackageRefused
from market.selectors.advisories import advisories_affecting
from market.selectors.browse import market_location
from market.selectors.catalogue import app_get, app_version_get, catalogue_apps
from market.selectors.markets import market_get, market_signature_summary
from market.semver import MAX_RANGE_LENGTH
from market.services.details import version_readme
from market.services.markets import MarketExists, MarketRefused, market_add
from market.services.publish import can_publish, package_publish
from market.services.sync import sync_job_enqueue
from market.services.yank import advisory_add, advisory_remove, version_unyank, version_yank
from market.signing import MAX_ROOT_BYTES
from market.storage.base import StorageError
from portal.actors import actor_from_request
from portal.api.errors import Conflict, ErrorSerializer, PayloadTooLarge, ServiceUnavailable
from portal.permissions import is_staff, require_staff

ERR = OpenApiResponse(ErrorSerializer)
# Multipart framing around the archive: boundaries, part headers, a file name.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class MarketOutput(serializers.ModelSerializer):
    apps = serializers.IntegerField(source="app_count", read_only=True)
    location = serializers.SerializerMethodField(
        help_text="Where the market is (staff only; null for others). Never credentials."
    )
    signature = serializers.SerializerMethodField(
        help_text="Who signed market.json at the last sync: state verified (checked against"
        " the pinned root), unverified (no root pinned) or unsigned."
    )
    trust_root_version = serializers.SerializerMethodField(
        help_text="Version of the root.json this subscription trusts; null: none pinned."
    )

    class Meta:
        model = Market
        fields = [
            "name",
            "description",
            "location",
            "writable",
            "is_private",
            "allow_private_network",
            "serial",
            "last_synced_at",
            "last_sync_error",
            "apps",
            "signature",
            "trust_root_version",
        ]

    def get_signature(self, obj: Market) -> dict[str, Any]:
        summary = market_signature_summary(market=obj)
        return {
            "state": summary["state"],
            "signers": (obj.signature or {}).get("signers", []),
            "expires": (obj.signature or {}).get("expires") or None,
        }

    def get_trust_root_version(self, obj: Market) -> int | None:
        return (obj.trust_root or {}).get("version")

    def get_location(self, obj: Market) -> str | None:
        request = self.context.get("request")
        if request is None or not is_staff(request.user):
            return None
        return market_location(obj)


class MarketInput(serializers.Serializer):
    name = serializers.CharField(max_length=63, validators=[validate_slug])
    location = serializers.CharField(max_length=1000)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    writable = serializers.BooleanField(default=False)
    allow_private_network = serializers.BooleanField(default=False)
    is_private = serializers.BooleanField(default=False)
    endpoint_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    credentials = serializers.DictField(
        child=serializers.CharField(max_length=500),
        required=False,
        write_only=True,
        help_text="Stored encrypted, never returned.",
    )
    trust_root = serializers.JSONField(
        required=False,
        help_text="A signed market's root.json (the document itself), obtained from its"
        " publishers out of band: every sync then checks market.json's signatures.",
    )

    def validate_trust_root(self, value: Any) -> bytes:
        # The service checks the document; bytes, as a file would give them.
        data = json.dumps(value).encode()
        if len(data) > MAX_ROOT_BYTES:
            raise serializers.ValidationError(f"a root.json is at most {MAX_ROOT_BYTES} bytes")
        return data


class JobOutput(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    created_at = serializers.DateTimeField()


class PublishOutput(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    digest = serializers.CharField()
    size = serializers.IntegerField()
    created = serializers.BooleanField()


class AppOutput(serializers.ModelSerializer):
    market = serializers.CharField(source="market.name")

    class Meta:
        model = App
        fields = ["market", "name", "title", "summary", "category", "keywords", "latest", "updated"]


class VersionOutput(serializers.ModelSerializer):
    yanked = serializers.SerializerMethodField(
        help_text="Why the publisher yanked it; null when not yanked (SPEC 14)."
    )

    class Meta:
        model = AppVersion
        fields = ["version", "digest", "size", "published", "publisher", "yanked"]

    def get_yanked(self, obj: AppVersion) -> str | None:
        return obj.yanked or None


class AdvisorySerializer(serializers.Serializer):
    """An advisory (SPEC 14); the service checks id, severity, range and lengths."""

    id = serializers.CharField(max_length=100)
    severity = serializers.ChoiceField(choices=ADVISORY_SEVERITIES)
    affected = serializers.CharField(max_length=MAX_RANGE_LENGTH, help_text="An npm range.")
    fixed = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    summary = serializers.CharField(max_length=MAX_ADVISORY_SUMMARY)


class AppDetailOutput(AppOutput):
    versions = VersionOutput(many=True)
    readme = serializers.CharField()
    advisories = AdvisorySerializer(many=True)

    class Meta(AppOutput.Meta):
        fields = [*AppOutput.Meta.fields, "readme", "versions", "advisories"]


class VersionDetailOutput(serializers.ModelSerializer):
    app = serializers.CharField(source="app.name")
    market = serializers.CharField(source="app.market.name")
    readme = serializers.SerializerMethodField()
    dependencies = serializers.SerializerMethodField()
    yanked = serializers.SerializerMethodField(help_text="Why it is yanked; null when not.")
    advisories = serializers.SerializerMethodField(
        help_text="The app's advisories whose affected range holds this version."
    )

    class Meta:
        model = AppVersion
        fields = [
            "market",
            "app",
            "version",
            "digest",
            "size",
            "published",
            "publisher",
            "manifest",
            "readme",
            "dependencies",
            "yanked",
            "advisories",
        ]

    def get_yanked(self, obj: AppVersion) -> str | None:
        return obj.yanked or None

    def get_advisories(self, obj: AppVersion) -> list[dict[str, str]]:
        return advisories_affecting(advisories=obj.app.advisories, version=obj.version)

    def get_readme(self, obj: AppVersion) -> str:
        return version_readme(version=obj)

    def get_dependencies(self, obj: AppVersion) -> list[dict[str, Any]]:
        return list(obj.manifest.get("dependencies") or [])


class MarketListView(GenericAPIView):
    serializer_class = MarketOutput

    def get_queryset(self) -> Any:
        from django.db.models import Count

        return Market.objects.annotate(app_count=Count("apps")).order_by("name")

    @extend_schema(responses=MarketOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(
            MarketOutput(page, many=True, context={"request": request}).data
        )

    @extend_schema(request=MarketInput, responses={201: MarketOutput, 400: ERR, 403: ERR, 409: ERR})
    def post(self, request: Request) -> Response:
        require_staff(request.user)
        data = MarketInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            market = market_add(actor=actor_from_request(request), **data.validated_data)
        except MarketExists as exc:
            raise Conflict(str(exc)) from None
        except MarketRefused as exc:
            field = "trust_root" if str(exc).startswith("trust root:") else "location"
            raise serializers.ValidationError({field: [str(exc)]}) from None
        market.app_count = 0  # type: ignore[attr-defined]
        return Response(
            MarketOutput(market, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class MarketSyncView(GenericAPIView):
    serializer_class = JobOutput

    @extend_schema(request=None, responses={202: JobOutput, 403: ERR, 404: ERR})
    def post(self, request: Request, market: str) -> Response:
        require_staff(request.user)
        job = sync_job_enqueue(
            market=market_get(name=market), requested_by=actor_from_request(request).label
        )
        return Response(JobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class PackageUploadInput(serializers.Serializer):
    archive = serializers.FileField()


class PackagePublishView(GenericAPIView):
    parser_classes = [MultiPartParser]
    serializer_class = PublishOutput

    @extend_schema(
        request={"multipart/form-data": PackageUploadInput},
        responses={
            201: PublishOutput,
            200: PublishOutput,
            400: ERR,
            403: ERR,
            409: ERR,
            413: ERR,
            503: ERR,
        },
    )
    def post(self, request: Request, market: str) -> Response:
        target = market_get(name=market)
        # Decide before the upload is read: a refused caller must not get to spool
        # a large body to disk.
        if not target.writable:
            return _error(
                "market_read_only",
                f"market {target.name} is read-only",
                status.HTTP_400_BAD_REQUEST,
            )
        if not can_publish(request.user, target):
            raise PermissionDenied(f"you may not publish to {target.name}")
        limit = settings.PACKAGE_MAX_ARCHIVE_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD_BYTES:
            raise PayloadTooLarge(f"the upload is {declared} bytes; the archive limit is {limit}")
        upload = request.FILES.get("archive")
        if upload is None:
            raise serializers.ValidationError({"archive": ["Attach the package as `archive`."]})
        if upload.size is not None and upload.size > limit:
            raise PayloadTooLarge(f"the archive is {upload.size} bytes; the limit is {limit}")
        try:
            result = package_publish(
                actor=actor_from_request(request),
                market=target,
                data=upload.read(),
                filename=upload.name,
            )
        except PackageRefused as exc:
            return _error(f"package_{exc.code}", exc.reason, status.HTTP_400_BAD_REQUEST)
        except VersionConflict as exc:
            raise Conflict(str(exc)) from None
        except StorageError as exc:
            # Transient failures, lost CAS races and a broken store alike: not the
            # caller's fault, and a retry later may well succeed.
            raise ServiceUnavailable(f"market storage: {exc}") from None
        body = PublishOutput(result).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else 200)


def _error(code: str, detail: str, status_code: int) -> Response:
    return Response({"error": code, "detail": detail}, status=status_code)


class AppListView(GenericAPIView):
    serializer_class = AppOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words in name, title, summary, keywords"),
            OpenApiParameter("category", str),
            OpenApiParameter("market", str),
            OpenApiParameter("sort", str, enum=["name", "updated"]),
        ],
        responses=AppOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        apps = catalogue_apps(
            q=request.query_params.get("q", "")[:200],
            category=request.query_params.get("category", ""),
            market=request.query_params.get("market", ""),
            sort=request.query_params.get("sort", "name"),
        ).defer("icon")
        page = self.paginate_queryset(apps)
        return self.get_paginated_response(AppOutput(page, many=True).data)


class AppDetailView(GenericAPIView):
    serializer_class = AppDetailOutput

    @extend_schema(responses={200: AppDetailOutput, 404: ERR})
    def get(self, request: Request, market: str, name: str) -> Response:
        return Response(AppDetailOutput(app_get(market=market, name=name)).data)


class VersionDetailView(GenericAPIView):
    serializer_class = VersionDetailOutput

    @extend_schema(responses={200: VersionDetailOutput, 404: ERR})
    def get(self, request: Request, market: str, name: str, version: str) -> Response:
        row = app_version_get(market=market, name=name, version=version)
        return Response(VersionDetailOutput(row).data)


# --- yanked versions and advisories (SPEC 14) ----------------------------------------


class YankInput(serializers.Serializer):
    reason = serializers.CharField(
        max_length=MAX_YANK_REASON, help_text="Why, shown to everyone who would install it."
    )


class YankOutput(serializers.Serializer):
    app = serializers.CharField()
    version = serializers.CharField()
    yanked = serializers.CharField(allow_null=True)
    changed = serializers.BooleanField(help_text="False when it already was so.")


class VersionYankView(GenericAPIView):
    serializer_class = YankInput

    def _answer(self, market: Market, name: str, version: str, changed: bool) -> Response:
        row = app_version_get(market=market.name, name=name, version=version)
        body = {"app": name, "version": version, "yanked": row.yanked or None, "changed": changed}
        return Response(YankOutput(body).data)

    @extend_schema(
        request=YankInput,
        responses={200: YankOutput, 400: ERR, 403: ERR, 404: ERR, 503: ERR},
        description="Yank a version (publishers of the market): installs refuse it unless"
        " the exact version is asked for with ?force=1; instances running it are flagged.",
    )
    def post(self, request: Request, market: str, name: str, version: str) -> Response:
        target = market_get(name=market)
        data = YankInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = version_yank(
                actor=actor_from_request(request),
                market=target,
                app=name,
                version=version,
                reason=data.validated_data["reason"],
            )
        except StorageError as exc:
            raise ServiceUnavailable(f"market storage: {exc}") from None
        return self._answer(target, name, version, result.changed)

    @extend_schema(
        request=None,
        responses={200: YankOutput, 403: ERR, 404: ERR, 503: ERR},
        description="Take a yank back.",
    )
    def delete(self, request: Request, market: str, name: str, version: str) -> Response:
        target = market_get(name=market)
        try:
            result = version_unyank(
                actor=actor_from_request(request), market=target, app=name, version=version
            )
        except StorageError as exc:
            raise ServiceUnavailable(f"market storage: {exc}") from None
        return self._answer(target, name, version, result.changed)


class AdvisoryListView(GenericAPIView):
    serializer_class = AdvisorySerializer
    pagination_class = None  # an app holds at most MAX_ADVISORIES

    @extend_schema(responses={200: AdvisorySerializer(many=True), 404: ERR})
    def get(self, request: Request, market: str, name: str) -> Response:
        return Response(
            AdvisorySerializer(app_get(market=market, name=name).advisories, many=True).data
        )

    @extend_schema(
        request=AdvisorySerializer,
        responses={201: AdvisorySerializer, 200: AdvisorySerializer, 400: ERR, 403: ERR, 404: ERR},
        description="Publish an advisory (publishers of the market); the same id replaces"
        " one. Instances whose version is affected are flagged.",
    )
    def post(self, request: Request, market: str, name: str) -> Response:
        target = market_get(name=market)
        data = AdvisorySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = advisory_add(
                actor=actor_from_request(request),
                market=target,
                app=name,
                advisory=dict(data.validated_data),
            )
        except StorageError as exc:
            raise ServiceUnavailable(f"market storage: {exc}") from None
        return Response(
            AdvisorySerializer(result.advisory).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class AdvisoryDetailView(GenericAPIView):
    serializer_class = AdvisorySerializer

    @extend_schema(request=None, responses={204: None, 403: ERR, 404: ERR, 503: ERR})
    def delete(self, request: Request, market: str, name: str, advisory: str) -> Response:
        try:
            advisory_remove(
                actor=actor_from_request(request),
                market=market_get(name=market),
                app=name,
                advisory_id=advisory,
            )
        except StorageError as exc:
            raise ServiceUnavailable(f"market storage: {exc}") from None
        return Response(status=status.HTTP_204_NO_CONTENT)
