"""`/api/v1/builds/`: start a source build (202), follow it, list your builds."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from builds.models import Build
from builds.selectors import build_get_visible, may_build, visible_builds
from builds.services.builds import build_create
from portal.actors import actor_from_request
from portal.api.errors import ErrorSerializer, PayloadTooLarge
from portal.api.parsers import DepthLimitedJSONParser, json_loads_bounded
from portal.services.errors import Forbidden

ERR = OpenApiResponse(ErrorSerializer)


class BuildOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by_label")
    profile = serializers.CharField(source="profile_name")
    publish_market = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Build
        fields = [
            "id",
            "state",
            "created_by",
            "source_kind",
            "source",
            "ref",
            "commit_sha",
            "profile",
            "overrides",
            "strict",
            "publish_market",
            "published",
            "resources",
            "allowed_hosts",
            "lint_report",
            "steps",
            "error",
            "app_name",
            "app_version",
            "archive_name",
            "digest",
            "size",
            "download_url",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_publish_market(self, obj: Build) -> str | None:
        return obj.publish_market.name if obj.publish_market else None

    def get_download_url(self, obj: Build) -> str | None:
        if obj.state != Build.State.SUCCEEDED or not obj.archive_name:
            return None
        return f"/builds/{obj.pk}/download/"


class BuildDetailOutput(BuildOutput):
    class Meta(BuildOutput.Meta):
        fields = [*BuildOutput.Meta.fields, "log"]


class BuildInput(serializers.Serializer):
    archive = serializers.FileField(required=False, help_text="multipart: the source archive")
    git_url = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    ref = serializers.CharField(required=False, allow_blank=True, max_length=200)
    profile = serializers.CharField(required=False, allow_blank=True, max_length=63)
    overrides = serializers.JSONField(
        required=False, help_text="{NAME: value}; in multipart, a JSON object as text"
    )
    strict = serializers.BooleanField(default=False)
    publish_market = serializers.CharField(required=False, allow_blank=True, max_length=63)

    def validate_overrides(self, value: Any) -> dict[str, str]:
        if isinstance(value, str):
            try:
                value = json_loads_bounded(value) if value.strip() else {}
            except ValueError:
                raise serializers.ValidationError("must be a JSON object") from None
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be an object of NAME: value")
        return value


class BuildListView(GenericAPIView):
    parser_classes = [DepthLimitedJSONParser, MultiPartParser]
    serializer_class = BuildOutput

    @extend_schema(responses=BuildOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(visible_builds(request.user))
        return self.get_paginated_response(BuildOutput(page, many=True).data)

    @extend_schema(
        request={"application/json": BuildInput, "multipart/form-data": BuildInput},
        responses={202: BuildOutput, 400: ERR, 403: ERR, 413: ERR},
    )
    def post(self, request: Request) -> Response:
        # Decide before reading an upload: a refused caller must not spool a large body.
        if not may_build(request.user):
            raise Forbidden("building needs the operator or admin role in a team")
        data = BuildInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload = values.get("archive")
        limit = settings.PACKAGE_MAX_ARCHIVE_BYTES
        if upload is not None and upload.size is not None and upload.size > limit:
            raise PayloadTooLarge(f"the archive is {upload.size} bytes; the limit is {limit}")
        build = build_create(
            actor=actor_from_request(request),
            archive=upload.read() if upload is not None else None,
            filename=upload.name if upload is not None else "",
            git_url=values.get("git_url", ""),
            ref=values.get("ref", ""),
            profile_name=values.get("profile") or None,
            overrides=values.get("overrides") or {},
            strict=values["strict"],
            publish_market=values.get("publish_market") or None,
        )
        return Response(BuildOutput(build).data, status=status.HTTP_202_ACCEPTED)


class BuildDetailView(GenericAPIView):
    serializer_class = BuildDetailOutput

    @extend_schema(responses={200: BuildDetailOutput, 404: ERR})
    def get(self, request: Request, build_id: int) -> Response:
        return Response(
            BuildDetailOutput(build_get_visible(user=request.user, build_id=build_id)).data
        )
