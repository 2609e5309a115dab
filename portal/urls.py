"""Root URLs. Each area owns its own url module; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("", include("market.urls")),
    path("", include("portal.urls_web")),
]

handler404 = "portal.views.shell.not_found"
