from django.urls import path

from builds.views import bundles, pages, profiles

urlpatterns = [
    path("builds/", pages.build_list, name="build-list"),
    path("builds/new/", pages.build_new, name="build-new"),
    path("builds/<int:build_id>/", pages.build_detail, name="build-detail"),
    path("builds/<int:build_id>/download/", pages.build_download, name="build-download"),
    path("builds/profiles/", profiles.profile_list_view, name="build-profiles"),
    path("builds/profiles/new/", profiles.profile_new, name="build-profile-new"),
    path("builds/profiles/<slug:name>/edit/", profiles.profile_edit, name="build-profile-edit"),
    path("builds/bundles/", bundles.bundle_page, name="build-bundles"),
    path("builds/bundles/import/", bundles.bundle_import_view, name="build-bundle-import"),
]
