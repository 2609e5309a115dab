"""`/api/v1/`: every area's API routes are mounted here."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from portal.api import teams as teams_api
from portal.api import tokens as tokens_api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("teams/", teams_api.TeamListView.as_view(), name="api-team-list"),
    path("teams/<str:team>/", teams_api.TeamDetailView.as_view(), name="api-team-detail"),
    path(
        "teams/<str:team>/members/",
        teams_api.TeamMemberListView.as_view(),
        name="api-team-member-list",
    ),
    path(
        "teams/<str:team>/members/<str:username>/",
        teams_api.TeamMemberDetailView.as_view(),
        name="api-team-member-detail",
    ),
    path("tokens/", tokens_api.TokenListView.as_view(), name="api-token-list"),
    path("tokens/<int:token_id>/", tokens_api.TokenDetailView.as_view(), name="api-token-detail"),
    path("", include("market.urls_api")),
    path("", include("deployments.urls_api")),
    path("", include("search.urls_api")),
    path("", include("builds.urls_api")),
    path("", include("telemetry.urls_api")),
    path("", include("notifications.urls_api")),
]
