"""`/api/v1/namespaces/`: namespaces, each owned by a team."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.models import DeployTarget
from deployments.selectors.namespaces import namespace_get, namespace_list
from deployments.services.namespaces import namespace_create
from portal.actors import actor_from_request
from portal.api.errors import ErrorSerializer
from portal.models import Role
from portal.permissions import require_team_role, visible_teams
from portal.services.errors import Invalid

_ERROR = OpenApiResponse(ErrorSerializer, description="See the error code")


class NamespaceOutput(serializers.Serializer):
    name = serializers.CharField()
    team = serializers.CharField(source="team.name")
    target = serializers.ChoiceField(choices=DeployTarget.choices)
    cluster = serializers.CharField(source="cluster.name", default=None, allow_null=True)
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class NamespaceCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    team = serializers.CharField(max_length=63)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    target = serializers.ChoiceField(
        choices=DeployTarget.choices, default=DeployTarget.GITOPS, required=False
    )
    cluster = serializers.CharField(max_length=63, required=False, allow_blank=True)


class NamespaceListView(GenericAPIView):
    @extend_schema(
        parameters=[OpenApiParameter("team", str, description="Only this team's namespaces")],
        responses={200: NamespaceOutput(many=True), 401: _ERROR},
        tags=["namespaces"],
    )
    def get(self, request: Request) -> Response:
        namespaces = namespace_list(user=request.user, team=request.query_params.get("team"))
        page = self.paginate_queryset(namespaces)
        return self.get_paginated_response(NamespaceOutput(page, many=True).data)

    @extend_schema(
        request=NamespaceCreateInput,
        responses={201: NamespaceOutput, 400: _ERROR, 401: _ERROR, 403: _ERROR, 409: _ERROR},
        tags=["namespaces"],
        description="Operators and admins of the team, and staff.",
    )
    def post(self, request: Request) -> Response:
        data = NamespaceCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        team = visible_teams(request.user).filter(name=values["team"]).first()
        if team is None:
            # Same answer for a team that does not exist and one the caller cannot see.
            raise Invalid(f"No such team: {values['team']!r}.")
        require_team_role(request.user, team, Role.OPERATOR)
        namespace = namespace_create(
            actor=actor_from_request(request),
            team=team,
            name=values["name"],
            description=values.get("description", ""),
            target=values.get("target", DeployTarget.GITOPS),
            cluster=values.get("cluster", ""),
        )
        return Response(NamespaceOutput(namespace).data, status=status.HTTP_201_CREATED)


class NamespaceDetailView(GenericAPIView):
    @extend_schema(responses={200: NamespaceOutput, 401: _ERROR, 404: _ERROR}, tags=["namespaces"])
    def get(self, request: Request, namespace: str) -> Response:
        return Response(NamespaceOutput(namespace_get(user=request.user, name=namespace)).data)
