"""Root URLs. Each area owns its own url module; this file only mounts them."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Pages without our layout (the admin console) make browsers ask for this.
    # Lazy: with DEBUG off static() reads collectstatic's manifest, which does not
    # exist yet when `migrate` or `check --deploy` import these URLs.
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("img/favicon.svg"), permanent=True),
    ),
    path("api/v1/", include("portal.api.urls")),
    path("", include("market.urls")),
    path("", include("deployments.urls")),
    path("", include("telemetry.urls")),
    path("", include("builds.urls")),
    path("", include("search.urls")),
    path("", include("notifications.urls")),
    path("", include("portal.urls_web")),
]

handler400 = "portal.views.shell.bad_request"
handler404 = "portal.views.shell.not_found"
handler500 = "portal.views.shell.server_error"
