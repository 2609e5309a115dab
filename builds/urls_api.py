from django.urls import path

from builds import api

urlpatterns = [
    path("builds/", api.BuildListView.as_view(), name="api-builds"),
    path("builds/<int:build_id>/", api.BuildDetailView.as_view(), name="api-build"),
]
