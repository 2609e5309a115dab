"""`GET /api/v1/namespaces/{ns}/instances/{name}/metrics/` (SPEC section 10): thin
over the telemetry selectors; the instance is fetched with the same permission
check as its own page (another team's instance is 404)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from deployments.selectors.instances import instance_get
from portal.api.errors import ErrorSerializer
from telemetry.models import ScrapeTarget
from telemetry.selectors import instance_metric_series, instance_metrics_overview, since_parse

ERR = OpenApiResponse(ErrorSerializer)


class TargetOutput(serializers.ModelSerializer):
    class Meta:
        model = ScrapeTarget
        fields = ["address", "pod", "health", "last_scrape", "last_error"]


class OverviewOutput(serializers.Serializer):
    targets = TargetOutput(many=True)
    names = serializers.ListField(child=serializers.CharField())


class SeriesOutput(serializers.Serializer):
    labels = serializers.DictField(child=serializers.CharField())
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        help_text="[unix_seconds, value] pairs, oldest first.",
    )


class MetricOutput(serializers.Serializer):
    name = serializers.CharField()
    series = SeriesOutput(many=True)


class InstanceMetricsView(GenericAPIView):
    serializer_class = OverviewOutput

    @extend_schema(
        parameters=[
            OpenApiParameter("name", str, description="A metric: answer its series."),
            OpenApiParameter("since", int, description="Seconds back from now (3600)."),
        ],
        responses={
            200: PolymorphicProxySerializer(
                component_name="InstanceMetrics",
                serializers=[OverviewOutput, MetricOutput],
                resource_type_field_name=None,
            ),
            400: ERR,
            404: ERR,
            503: ERR,
        },
    )
    def get(self, request: Request, namespace: str, name: str) -> Response:
        instance = instance_get(user=request.user, namespace=namespace, name=name)
        metric = request.query_params.get("name")
        if metric is None:
            overview = instance_metrics_overview(instance=instance)
            return Response(
                {
                    "targets": TargetOutput(overview.targets, many=True).data,
                    "names": overview.names,
                }
            )
        since = since_parse(
            request.query_params.get("since"), retention_hours=settings.METRICS_RETENTION_HOURS
        )
        series = instance_metric_series(instance=instance, name=metric, since_seconds=since)
        return Response(
            {
                "name": metric,
                # (at, value) tuples are JSON arrays as they are: copying 30,000
                # of them into lists was a third of a chart request's time.
                "series": [{"labels": s.labels, "points": s.points} for s in series],
            }
        )
