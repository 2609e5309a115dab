from django.urls import path

from builds.views import pages

urlpatterns = [
    path("builds/", pages.build_list, name="build-list"),
]
