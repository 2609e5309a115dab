"""`GET /api/v1/search/`: site search for automation (SPEC section 5)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from search.backends.base import FACETS, TYPES
from search.services.query import search_query_parse, search_run

PAGE_SIZE = 20


class SearchHitOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=TYPES)
    title = serializers.CharField()
    url = serializers.CharField()
    highlight = serializers.CharField(help_text="Escaped HTML; matches inside <mark>.")
    summary = serializers.CharField()


class SearchView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words; empty browses"),
            OpenApiParameter("type", str, enum=list(TYPES)),
            OpenApiParameter("page", int),
            *(OpenApiParameter(facet, str) for facet in FACETS),
        ],
        responses=inline_serializer(
            "SearchResults",
            {
                "count": serializers.IntegerField(),
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
                "results": SearchHitOutput(many=True),
                "facets": serializers.DictField(
                    child=serializers.ListField(child=serializers.DictField())
                ),
                "degraded": serializers.BooleanField(
                    help_text="True when answered from the database, not the search server."
                ),
                "did_you_mean": serializers.CharField(
                    help_text="A corrected query, or empty. When `corrected`, the results "
                    "are this query's: the one asked found nothing."
                ),
                "corrected": serializers.BooleanField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = search_query_parse(request.query_params, per_page=PAGE_SIZE)
        results = search_run(user=request.user, query=query)

        def page_url(page: int) -> str:
            params = request.query_params.copy()
            params["page"] = str(page)
            return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

        return Response(
            {
                "count": results.count,
                "next": page_url(query.page + 1) if query.page < results.pages else None,
                "previous": page_url(query.page - 1) if query.page > 1 else None,
                "results": [hit.as_dict() for hit in results.hits],
                "facets": {
                    facet: [{"value": value, "count": count} for value, count in buckets]
                    for facet, buckets in results.facets.items()
                },
                "degraded": results.degraded,
                "did_you_mean": results.did_you_mean,
                "corrected": results.corrected,
            }
        )
