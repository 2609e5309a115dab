"""Root URLs. Each area owns its own url module; this file only mounts them."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Pages without our layout (the admin console) make browsers ask for this.
    path("favicon.ico", RedirectView.as_view(url=static("img/favicon.svg"), permanent=True)),
    path("api/v1/", include("portal.api.urls")),
    path("", include("market.urls")),
    path("", include("builds.urls")),
    path("", include("portal.urls_web")),
]

handler404 = "portal.views.shell.not_found"
