"""`/api/v1/subscriptions/` and `/api/v1/notifications/`: the caller's own and their
teams' subscriptions, and the caller's inbox."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from notifications.models import Channel, EventKind
from notifications.selectors import (
    notification_get,
    notification_list,
    subscription_get,
    subscription_list,
)
from notifications.services.inbox import notification_read
from notifications.services.subscriptions import subscription_create, subscription_delete
from portal.actors import actor_from_request
from portal.api.errors import ErrorSerializer
from portal.permissions import visible_team_or_404

_ERROR = OpenApiResponse(ErrorSerializer, description="See the error code")


class SubscriptionOutput(serializers.Serializer):
    """Never the webhook's secret."""

    id = serializers.IntegerField()
    user = serializers.CharField(source="user.username", allow_null=True, default=None)
    team = serializers.CharField(source="team.name", allow_null=True, default=None)
    channel = serializers.ChoiceField(choices=Channel.choices)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EventKind.choices))
    url = serializers.CharField()
    created_at = serializers.DateTimeField()


class SubscriptionCreatedOutput(SubscriptionOutput):
    secret = serializers.CharField(
        help_text="Webhooks: the HMAC-SHA256 signing key. Shown this once; store it now."
    )


class SubscriptionInput(serializers.Serializer):
    channel = serializers.ChoiceField(choices=Channel.choices)
    events = serializers.ListField(
        child=serializers.CharField(max_length=40), min_length=1, max_length=10
    )
    team = serializers.CharField(max_length=63, required=False, allow_blank=True, default="")
    url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class SubscriptionListView(GenericAPIView):
    @extend_schema(
        responses={200: SubscriptionOutput(many=True), 401: _ERROR}, tags=["notifications"]
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(subscription_list(user=request.user))
        return self.get_paginated_response(SubscriptionOutput(page, many=True).data)

    @extend_schema(
        request=SubscriptionInput,
        responses={
            201: SubscriptionCreatedOutput,
            400: _ERROR,
            401: _ERROR,
            403: _ERROR,
            404: _ERROR,
        },
        tags=["notifications"],
        description="Subscribe the caller, or a team they administer. A webhook's secret "
        "is in this response only.",
    )
    def post(self, request: Request) -> Response:
        data = SubscriptionInput(data=request.data)
        data.is_valid(raise_exception=True)
        name = data.validated_data["team"]
        team = visible_team_or_404(request.user, name) if name else None
        created = subscription_create(
            actor=actor_from_request(request),
            channel=data.validated_data["channel"],
            events=data.validated_data["events"],
            team=team,
            url=data.validated_data["url"],
        )
        body = dict(SubscriptionOutput(created.subscription).data)
        if created.secret:
            body["secret"] = created.secret
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class SubscriptionDetailView(GenericAPIView):
    @extend_schema(
        responses={200: SubscriptionOutput, 401: _ERROR, 404: _ERROR}, tags=["notifications"]
    )
    def get(self, request: Request, subscription_id: int) -> Response:
        return Response(
            SubscriptionOutput(
                subscription_get(user=request.user, subscription_id=subscription_id)
            ).data
        )

    @extend_schema(
        responses={204: None, 401: _ERROR, 403: _ERROR, 404: _ERROR}, tags=["notifications"]
    )
    def delete(self, request: Request, subscription_id: int) -> Response:
        subscription_delete(
            actor=actor_from_request(request),
            subscription=subscription_get(user=request.user, subscription_id=subscription_id),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField(source="event.key")
    kind = serializers.ChoiceField(source="event.kind", choices=EventKind.choices)
    title = serializers.CharField(source="event.title")
    namespace = serializers.CharField(source="event.instance.namespace.name")
    instance = serializers.CharField(source="event.instance.name")
    payload = serializers.JSONField(source="event.payload")
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class NotificationListView(GenericAPIView):
    @extend_schema(
        responses={200: NotificationOutput(many=True), 401: _ERROR},
        tags=["notifications"],
        description="The caller's inbox, newest first; `?unread=1` for the unread ones.",
    )
    def get(self, request: Request) -> Response:
        unread = request.query_params.get("unread") in ("1", "true")
        page = self.paginate_queryset(notification_list(user=request.user, unread=unread))
        return self.get_paginated_response(NotificationOutput(page, many=True).data)


class NotificationReadView(GenericAPIView):
    @extend_schema(
        request=None,
        responses={200: NotificationOutput, 401: _ERROR, 404: _ERROR},
        tags=["notifications"],
    )
    def post(self, request: Request, notification_id: int) -> Response:
        notification = notification_get(user=request.user, notification_id=notification_id)
        return Response(
            NotificationOutput(notification_read(user=request.user, notification=notification)).data
        )
