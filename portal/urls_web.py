"""Browser pages of the portal shell: home, accounts, teams, audit, component docs."""

from django.urls import path

from portal.views import apidocs, components, shell

urlpatterns = [
    path("", shell.home, name="home"),
    path("healthz", shell.healthz, name="healthz"),
    path("api/docs/", apidocs.api_docs, name="api-docs"),
    path("docs/components/", components.component_index, name="component-index"),
    path("docs/components/suggest/", components.component_suggest, name="component-suggest"),
    path("docs/components/<slug:name>/", components.component_detail, name="component-detail"),
]
