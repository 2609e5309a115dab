"""`/api/v1/instances/`, `/api/v1/namespaces/{ns}/instances/...` and
`/api/v1/operations/{id}/` (SPEC section 5): thin views over the workflow services."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.models import Instance, InstanceStatus, Operation, OperationStep, Revision
from deployments.selectors.instances import (
    instance_get,
    instance_list,
    instance_live_resources,
    instance_resources,
    operation_get,
    upgrade_available,
)
from deployments.selectors.namespaces import namespace_get
from deployments.services.instances import (
    Requested,
    instance_install,
    instance_repair,
    instance_rollback,
    instance_uninstall,
    instance_upgrade,
)
from deployments.services.preview import instance_upgrade_preview
from market.models import Market
from market.selectors.advisories import VersionFlags, version_flags, with_version_flags
from market.selectors.markets import market_get
from portal.actors import actor_from_request
from portal.api.errors import ErrorSerializer
from portal.services.errors import Invalid

ERR = OpenApiResponse(ErrorSerializer)


class StepOutput(serializers.ModelSerializer):
    class Meta:
        model = OperationStep
        fields = ["name", "state", "started_at", "finished_at", "message", "log"]


class OperationOutput(serializers.ModelSerializer):
    instance = serializers.SerializerMethodField()
    steps = StepOutput(many=True)

    class Meta:
        model = Operation
        fields = [
            "id",
            "kind",
            "state",
            "instance",
            "requested_by",
            "attempt",
            "created_at",
            "started_at",
            "finished_at",
            "steps",
            "error",
        ]

    def get_instance(self, obj: Operation) -> str:
        return f"{obj.instance.namespace.name}/{obj.instance.name}"


class InstanceOutput(serializers.ModelSerializer):
    namespace = serializers.CharField(source="namespace.name")
    team = serializers.CharField(source="namespace.team.name")
    market = serializers.CharField(source="market.name")
    app = serializers.CharField(source="app_name")
    revision = serializers.SerializerMethodField()
    upgrade_available = serializers.SerializerMethodField()
    yanked = serializers.SerializerMethodField(
        help_text="Why the publisher yanked the version it runs; null when not yanked."
    )
    advisories = serializers.SerializerMethodField(
        help_text="Advisories of its app whose affected range holds its version,"
        " most severe first: [{id, severity, affected, fixed, summary}]."
    )

    class Meta:
        model = Instance
        fields = [
            "namespace",
            "name",
            "team",
            "market",
            "app",
            "version",
            "status",
            "status_message",
            "revision",
            "upgrade_available",
            "yanked",
            "advisories",
            "updated_at",
        ]

    def get_revision(self, obj: Instance) -> int | None:
        return obj.current_revision.number if obj.current_revision_id else None  # type: ignore[union-attr]

    def _flags(self, obj: Instance) -> VersionFlags:
        # Both fields read the same flags: worked out (ranges parsed) once per row.
        flags = getattr(obj, "_version_flags", None)
        if flags is None:
            flags = obj._version_flags = version_flags(obj)  # type: ignore[attr-defined]
        return flags

    def get_yanked(self, obj: Instance) -> str | None:
        return self._flags(obj).yanked or None

    def get_advisories(self, obj: Instance) -> list[dict[str, str]]:
        return self._flags(obj).advisories

    def get_upgrade_available(self, obj: Instance) -> str | None:
        latest = getattr(obj, "latest_version", None)
        return latest if upgrade_available(obj.version, latest) else None


class InstanceDetailOutput(InstanceOutput):
    values = serializers.SerializerMethodField(help_text="Secrets masked.")
    resources = serializers.SerializerMethodField()
    dependencies = serializers.SerializerMethodField()

    class Meta(InstanceOutput.Meta):
        fields = [*InstanceOutput.Meta.fields, "values", "resources", "dependencies"]

    def get_values(self, obj: Instance) -> dict[str, Any]:
        return obj.current_revision.values_masked if obj.current_revision else {}

    def get_resources(self, obj: Instance) -> list[dict[str, str]]:
        return instance_resources(obj)

    def get_dependencies(self, obj: Instance) -> list[str]:
        return [i.name for i in obj.depends_on.all()]


class RevisionOutput(serializers.ModelSerializer):
    version = serializers.CharField(source="app_version")
    operation = serializers.UUIDField(source="operation_id")

    class Meta:
        model = Revision
        fields = ["number", "version", "manifests_digest", "commit", "operation", "created_at"]


class AcceptedOutput(serializers.Serializer):
    instance = InstanceOutput()
    operation = OperationOutput()
    dependencies = OperationOutput(many=True)


class InstallInput(serializers.Serializer):
    name = serializers.CharField(max_length=53)
    market = serializers.CharField(max_length=63)
    app = serializers.CharField(max_length=63)
    version = serializers.CharField(max_length=100, required=False, allow_blank=True)
    values = serializers.JSONField(required=False)


class UpgradeInput(serializers.Serializer):
    version = serializers.CharField(max_length=100, required=False, allow_blank=True)
    values = serializers.JSONField(required=False)
    reuse_values = serializers.BooleanField(default=True)


class RollbackInput(serializers.Serializer):
    revision = serializers.IntegerField(min_value=1)


def _accepted(requested: Requested) -> Response:
    instance = with_version_flags(Instance.objects.select_related("namespace__team", "market")).get(
        pk=requested.instance.pk
    )
    body = {
        "instance": InstanceOutput(instance).data,
        "operation": OperationOutput(requested.operation).data,
        "dependencies": OperationOutput(requested.dependencies, many=True).data,
    }
    return Response(body, status=status.HTTP_202_ACCEPTED)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "") in ("1", "true", "yes")


def _market(name: str) -> Market:
    # In a request body an unknown market is invalid input (400), not a missing page.
    try:
        return market_get(name=name)
    except Http404:
        raise Invalid(f"No market named {name!r}.") from None


class InstanceListView(GenericAPIView):
    serializer_class = InstanceOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("namespace", str),
            OpenApiParameter("app", str),
            OpenApiParameter("status", str, enum=InstanceStatus.values),
        ]
    )
    def get(self, request: Request) -> Response:
        rows = instance_list(
            user=request.user,
            namespace=request.query_params.get("namespace", ""),
            app=request.query_params.get("app", ""),
            status=request.query_params.get("status", ""),
        ).select_related("current_revision")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(InstanceOutput(page, many=True).data)


class NamespaceInstancesView(GenericAPIView):
    serializer_class = InstallInput

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "force", bool, description="Install the exact version asked for even if yanked."
            )
        ],
        request=InstallInput,
        responses={202: AcceptedOutput, 400: ERR, 403: ERR, 404: ERR, 409: ERR, 503: ERR},
    )
    def post(self, request: Request, namespace: str) -> Response:
        ns = namespace_get(user=request.user, name=namespace)
        data = InstallInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        requested = instance_install(
            actor=actor_from_request(request),
            namespace=ns,
            name=fields["name"],
            market=_market(fields["market"]),
            app=fields["app"],
            version=fields.get("version") or None,
            values=fields.get("values"),
            allow_yanked=_flag(request, "force"),
        )
        return _accepted(requested)


class InstanceDetailView(GenericAPIView):
    serializer_class = InstanceDetailOutput

    @extend_schema(responses={200: InstanceDetailOutput, 404: ERR})
    def get(self, request: Request, namespace: str, name: str) -> Response:
        instance = instance_get(user=request.user, namespace=namespace, name=name)
        return Response(InstanceDetailOutput(instance).data)

    @extend_schema(
        parameters=[OpenApiParameter("force", bool)],
        responses={202: AcceptedOutput, 403: ERR, 404: ERR, 409: ERR, 503: ERR},
    )
    def delete(self, request: Request, namespace: str, name: str) -> Response:
        instance = instance_get(user=request.user, namespace=namespace, name=name)
        requested = instance_uninstall(
            actor=actor_from_request(request), instance=instance, force=_flag(request, "force")
        )
        return _accepted(requested)


class InstanceUpgradeView(GenericAPIView):
    serializer_class = UpgradeInput

    @extend_schema(
        parameters=[
            OpenApiParameter("dry_run", bool, description="Return the diff only."),
            OpenApiParameter(
                "force",
                bool,
                description="Proceed although dependents break, or the version is yanked.",
            ),
        ],
        request=UpgradeInput,
        responses={200: dict, 202: AcceptedOutput, 400: ERR, 403: ERR, 404: ERR, 409: ERR},
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        instance = instance_get(user=request.user, namespace=namespace, name=name)
        data = UpgradeInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        arguments = {
            "actor": actor_from_request(request),
            "instance": instance,
            "version": fields.get("version") or None,
            "values": fields.get("values"),
            "reuse_values": fields["reuse_values"],
        }
        if _flag(request, "dry_run"):
            return Response(instance_upgrade_preview(**arguments).as_dict())
        forced = _flag(request, "force")
        return _accepted(instance_upgrade(**arguments, force=forced, allow_yanked=forced))


class InstanceRollbackView(GenericAPIView):
    serializer_class = RollbackInput

    @extend_schema(
        parameters=[
            OpenApiParameter("force", bool, description="Proceed although dependents break.")
        ],
        request=RollbackInput,
        responses={202: AcceptedOutput, 400: ERR, 404: ERR, 409: ERR},
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        instance = instance_get(user=request.user, namespace=namespace, name=name)
        data = RollbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        requested = instance_rollback(
            actor=actor_from_request(request),
            instance=instance,
            revision=data.validated_data["revision"],
            force=_flag(request, "force"),
        )
        return _accepted(requested)


class ResourceOutput(serializers.Serializer):
    api_version = serializers.CharField()
    kind = serializers.CharField()
    namespace = serializers.CharField()
    name = serializers.CharField()
    sync = serializers.CharField()
    health = serializers.CharField()
    message = serializers.CharField()


class InstanceResourcesView(GenericAPIView):
    serializer_class = ResourceOutput
    pagination_class = None  # SPEC 9: a plain list

    @extend_schema(
        parameters=[OpenApiParameter("refresh", bool, description="Look at the target now.")],
        responses={200: ResourceOutput(many=True), 404: ERR},
        description="Each object of the current revision as it is in the target: sync"
        " (synced, drifted, missing; committed for GitOps) and health.",
    )
    def get(self, request: Request, namespace: str, name: str) -> Response:
        instance = instance_get(user=request.user, namespace=namespace, name=name)
        rows = instance_live_resources(instance, refresh=_flag(request, "refresh"))
        return Response(ResourceOutput(rows, many=True).data)


class InstanceRepairView(GenericAPIView):
    @extend_schema(
        request=None,
        responses={202: AcceptedOutput, 400: ERR, 404: ERR, 409: ERR},
        description="Apply the current revision again: drifted objects get the applied"
        " fields back, missing ones are created (an operation of kind repair).",
    )
    def post(self, request: Request, namespace: str, name: str) -> Response:
        instance = instance_get(user=request.user, namespace=namespace, name=name)
        return _accepted(instance_repair(actor=actor_from_request(request), instance=instance))


class InstanceRevisionsView(GenericAPIView):
    serializer_class = RevisionOutput

    def get(self, request: Request, namespace: str, name: str) -> Response:
        instance = instance_get(user=request.user, namespace=namespace, name=name)
        page = self.paginate_queryset(instance.revisions.order_by("-number"))
        return self.get_paginated_response(RevisionOutput(page, many=True).data)


class OperationDetailView(GenericAPIView):
    serializer_class = OperationOutput

    @extend_schema(responses={200: OperationOutput, 404: ERR})
    def get(self, request: Request, operation_id: str) -> Response:
        operation = operation_get(user=request.user, operation_id=operation_id)
        return Response(OperationOutput(operation).data)
