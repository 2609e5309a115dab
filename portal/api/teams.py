"""`/api/v1/teams/`: teams and their members."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from portal.actors import actor_from_request
from portal.api.errors import ErrorSerializer
from portal.models import Membership, Role, Team
from portal.permissions import require_staff, require_team_role, visible_team_or_404
from portal.seams import team_namespaces
from portal.selectors.accounts import user_by_username
from portal.selectors.teams import team_list, team_members
from portal.services.errors import Invalid, NotFound
from portal.services.teams import (
    membership_remove,
    membership_set,
    team_create,
    team_delete,
    team_update,
)

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input"),
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated"),
    403: OpenApiResponse(ErrorSerializer, description="Role too low"),
    404: OpenApiResponse(ErrorSerializer, description="No such object, or not yours to see"),
    409: OpenApiResponse(ErrorSerializer, description="Conflicts with the current state"),
}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: ERRORS[code] for code in codes}


class TeamOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    member_count = serializers.IntegerField()
    my_role = serializers.ChoiceField(
        choices=Role.choices, allow_null=True, help_text="The caller's role; null for staff."
    )


class MemberOutput(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)
    joined_at = serializers.DateTimeField(source="created_at")


class TeamDetailOutput(TeamOutput):
    members = MemberOutput(many=True)
    namespaces = serializers.ListField(child=serializers.CharField())


class TeamCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=63)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class TeamUpdateInput(serializers.Serializer):
    description = serializers.CharField(max_length=200, allow_blank=True)


class MemberSetInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


def _team_detail(request: Request, team: Team) -> dict[str, Any]:
    annotated = team_list(user=request.user).get(pk=team.pk)
    data: dict[str, Any] = dict(TeamOutput(annotated).data)
    data["members"] = MemberOutput(team_members(team=team), many=True).data
    data["namespaces"] = list(
        team_namespaces(user=request.user, team=team.name).values_list("name", flat=True)
    )
    return data


class TeamListView(GenericAPIView):
    @extend_schema(responses={200: TeamOutput(many=True), **_errors(401)}, tags=["teams"])
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(team_list(user=request.user))
        return self.get_paginated_response(TeamOutput(page, many=True).data)

    @extend_schema(
        request=TeamCreateInput,
        responses={201: TeamDetailOutput, **_errors(400, 401, 403, 409)},
        tags=["teams"],
        description="Staff only.",
    )
    def post(self, request: Request) -> Response:
        require_staff(request.user)
        data = TeamCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        team = team_create(actor=actor_from_request(request), **data.validated_data)
        return Response(_team_detail(request, team), status=status.HTTP_201_CREATED)


class TeamDetailView(GenericAPIView):
    @extend_schema(responses={200: TeamDetailOutput, **_errors(401, 404)}, tags=["teams"])
    def get(self, request: Request, team: str) -> Response:
        found = visible_team_or_404(request.user, team)
        return Response(_team_detail(request, found))

    @extend_schema(
        request=TeamUpdateInput,
        responses={200: TeamDetailOutput, **_errors(400, 401, 403, 404)},
        tags=["teams"],
        description="Team admins and staff.",
    )
    def patch(self, request: Request, team: str) -> Response:
        found = visible_team_or_404(request.user, team)
        require_team_role(request.user, found, Role.ADMIN)
        data = TeamUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        updated = team_update(actor=actor_from_request(request), team=found, **data.validated_data)
        return Response(_team_detail(request, updated))

    @extend_schema(
        responses={204: None, **_errors(401, 403, 404, 409)},
        tags=["teams"],
        description="Staff only; refused (409) while the team owns namespaces.",
    )
    def delete(self, request: Request, team: str) -> Response:
        found = visible_team_or_404(request.user, team)
        require_staff(request.user)
        team_delete(actor=actor_from_request(request), team=found)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamMemberListView(GenericAPIView):
    @extend_schema(responses={200: MemberOutput(many=True), **_errors(401, 404)}, tags=["teams"])
    def get(self, request: Request, team: str) -> Response:
        found = visible_team_or_404(request.user, team)
        page = self.paginate_queryset(team_members(team=found))
        return self.get_paginated_response(MemberOutput(page, many=True).data)

    @extend_schema(
        request=MemberSetInput,
        responses={
            200: OpenApiResponse(MemberOutput, description="Role changed (or unchanged)"),
            201: OpenApiResponse(MemberOutput, description="Member added"),
            **_errors(400, 401, 403, 404, 409),
        },
        tags=["teams"],
        description="Add a member or change a member's role. Team admins and staff.",
    )
    def post(self, request: Request, team: str) -> Response:
        found = visible_team_or_404(request.user, team)
        require_team_role(request.user, found, Role.ADMIN)
        data = MemberSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = user_by_username(data.validated_data["username"])
        if user is None:
            raise Invalid(f"No active user named {data.validated_data['username']!r}.")
        membership, created = membership_set(
            actor=actor_from_request(request),
            team=found,
            user=user,
            role=data.validated_data["role"],
        )
        return Response(
            MemberOutput(membership).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def _membership_or_404(team: Team, username: str) -> Membership:
    membership = team_members(team=team).filter(user__username=username).first()
    if membership is None:
        raise NotFound(f"{username} is not a member of {team.name}.")
    return membership


class TeamMemberDetailView(GenericAPIView):
    @extend_schema(responses={200: MemberOutput, **_errors(401, 404)}, tags=["teams"])
    def get(self, request: Request, team: str, username: str) -> Response:
        found = visible_team_or_404(request.user, team)
        return Response(MemberOutput(_membership_or_404(found, username)).data)

    @extend_schema(
        responses={204: None, **_errors(401, 403, 404, 409)},
        tags=["teams"],
        description="Team admins and staff; the team's last admin cannot be removed (409).",
    )
    def delete(self, request: Request, team: str, username: str) -> Response:
        found = visible_team_or_404(request.user, team)
        require_team_role(request.user, found, Role.ADMIN)
        membership = _membership_or_404(found, username)
        membership_remove(actor=actor_from_request(request), team=found, user=membership.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
