"""`/api/v1/clusters/`: Kubernetes clusters (SPEC section 9).

Staff add and remove them; every signed-in user lists them, with the server URL
shown to staff only. The token is write-only: no answer ever carries it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.models import Cluster
from deployments.selectors.clusters import cluster_details_visible, cluster_get, cluster_list
from deployments.services.clusters import cluster_add, cluster_remove
from portal.actors import actor_from_request
from portal.api.errors import ErrorSerializer
from portal.permissions import require_staff

_ERROR = OpenApiResponse(ErrorSerializer, description="See the error code")


class ClusterOutput(serializers.Serializer):
    name = serializers.CharField()
    server = serializers.CharField(allow_null=True, help_text="Staff only; null for others.")
    version = serializers.CharField(help_text="Of the last check that reached the server.")
    reachable = serializers.BooleanField(allow_null=True, help_text="Null before any check.")
    checked_at = serializers.DateTimeField(allow_null=True)
    state = serializers.ChoiceField(choices=["unknown", "reachable", "degraded", "unreachable"])
    last_error = serializers.CharField(help_text="What the last check found wrong, if anything.")
    insecure_skip_tls_verify = serializers.BooleanField()
    allow_private_network = serializers.BooleanField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class ClusterCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    server = serializers.CharField(max_length=500, help_text="https://host:port of the API server")
    ca_cert = serializers.CharField(
        required=False, allow_blank=True, help_text="PEM of the CA that signs the API server"
    )
    insecure_skip_tls_verify = serializers.BooleanField(default=False, required=False)
    token = serializers.CharField(
        write_only=True, trim_whitespace=True, help_text="Bearer token; stored encrypted"
    )
    allow_private_network = serializers.BooleanField(default=False, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


def _out(request: Request, cluster: Cluster) -> dict[str, Any]:
    data: dict[str, Any] = dict(ClusterOutput(cluster).data)
    if not cluster_details_visible(request.user):
        data["server"] = None
    return data


class ClusterListView(GenericAPIView):
    @extend_schema(responses={200: ClusterOutput(many=True), 401: _ERROR}, tags=["clusters"])
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(cluster_list()) or []
        return self.get_paginated_response([_out(request, cluster) for cluster in page])

    @extend_schema(
        request=ClusterCreateInput,
        responses={201: ClusterOutput, 400: _ERROR, 401: _ERROR, 403: _ERROR, 409: _ERROR},
        tags=["clusters"],
        description=(
            "Staff only. The portal calls the server first (/version, and whether the "
            "token may create, patch and delete in namespaces) and answers 400 "
            "`cluster_refused` with the reason when it cannot use it."
        ),
    )
    def post(self, request: Request) -> Response:
        require_staff(request.user)
        data = ClusterCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        cluster = cluster_add(
            actor=actor_from_request(request),
            name=values["name"],
            server=values["server"],
            token=values["token"],
            ca_cert=values.get("ca_cert", ""),
            insecure_skip_tls_verify=values.get("insecure_skip_tls_verify", False),
            allow_private_network=values.get("allow_private_network", False),
            description=values.get("description", ""),
        )
        return Response(_out(request, cluster), status=status.HTTP_201_CREATED)


class ClusterDetailView(GenericAPIView):
    @extend_schema(responses={200: ClusterOutput, 401: _ERROR, 404: _ERROR}, tags=["clusters"])
    def get(self, request: Request, cluster: str) -> Response:
        return Response(_out(request, cluster_get(name=cluster)))

    @extend_schema(
        responses={204: None, 401: _ERROR, 403: _ERROR, 404: _ERROR},
        tags=["clusters"],
        description="Staff only. Forgets the cluster (and its token); nothing in it changes.",
    )
    def delete(self, request: Request, cluster: str) -> Response:
        require_staff(request.user)
        cluster_remove(actor=actor_from_request(request), cluster=cluster_get(name=cluster))
        return Response(status=status.HTTP_204_NO_CONTENT)
