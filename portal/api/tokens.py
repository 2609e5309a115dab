"""`/api/v1/tokens/`: the caller's own API tokens."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from portal.actors import actor_from_request
from portal.api.errors import ErrorSerializer
from portal.selectors.accounts import token_get, token_list
from portal.services.tokens import TOKEN_MAX_DAYS, token_create, token_revoke

_ERROR = OpenApiResponse(ErrorSerializer, description="See the error code")


TOKEN_STATUSES = ("active", "expired", "revoked")


class TokenOutput(serializers.Serializer):
    """Never the secret, never the digest: only what recognises a token."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The token's first characters.")
    status = serializers.ChoiceField(choices=TOKEN_STATUSES)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedOutput(TokenOutput):
    token = serializers.CharField(help_text="The secret. Shown this once; store it now.")


class TokenCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    days = serializers.IntegerField(min_value=1, max_value=TOKEN_MAX_DAYS, default=90)


class TokenListView(GenericAPIView):
    @extend_schema(responses={200: TokenOutput(many=True), 401: _ERROR}, tags=["tokens"])
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(token_list(user=request.user))
        return self.get_paginated_response(TokenOutput(page, many=True).data)

    @extend_schema(
        request=TokenCreateInput,
        responses={201: TokenCreatedOutput, 400: _ERROR, 401: _ERROR, 409: _ERROR},
        tags=["tokens"],
        description="Create a token for the caller. The secret is in this response only.",
    )
    def post(self, request: Request) -> Response:
        data = TokenCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = token_create(
            actor=actor_from_request(request),
            user=request.user,
            name=data.validated_data["name"],
            days=data.validated_data["days"],
        )
        body = dict(TokenOutput(issued.token).data)
        body["token"] = issued.secret
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class TokenDetailView(GenericAPIView):
    @extend_schema(responses={200: TokenOutput, 401: _ERROR, 404: _ERROR}, tags=["tokens"])
    def get(self, request: Request, token_id: int) -> Response:
        return Response(TokenOutput(token_get(user=request.user, token_id=token_id)).data)

    @extend_schema(
        responses={204: None, 401: _ERROR, 404: _ERROR},
        tags=["tokens"],
        description="Revoke one of the caller's tokens. Revoking twice is harmless.",
    )
    def delete(self, request: Request, token_id: int) -> Response:
        token_revoke(
            actor=actor_from_request(request), token=token_get(user=request.user, token_id=token_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
