"""Browser pages of the portal shell: home, accounts, teams, audit, the guide, component docs."""

from django.contrib.auth.views import LogoutView
from django.urls import path

from portal.views import accounts, apidocs, audit, components, guide, metrics, shell, teams

urlpatterns = [
    path("", shell.home, name="home"),
    path("healthz", shell.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("accounts/login/", accounts.RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/profile/", accounts.profile, name="profile"),
    path("accounts/profile/tokens/", accounts.token_create_view, name="token-create"),
    path(
        "accounts/profile/tokens/<int:token_id>/revoke/",
        accounts.token_revoke_view,
        name="token-revoke",
    ),
    path("teams/", teams.team_list_view, name="team-list"),
    path("teams/new/", teams.team_create_view, name="team-create"),
    path("teams/<slug:team>/", teams.team_detail_view, name="team-detail"),
    path("teams/<slug:team>/edit/", teams.team_update_view, name="team-update"),
    path("teams/<slug:team>/delete/", teams.team_delete_view, name="team-delete"),
    path("teams/<slug:team>/members/", teams.member_set_view, name="team-member-set"),
    path(
        "teams/<slug:team>/members/<str:username>/remove/",
        teams.member_remove_view,
        name="team-member-remove",
    ),
    path(
        "teams/<slug:team>/namespaces/",
        teams.namespace_create_view,
        name="team-namespace-create",
    ),
    path("audit/", audit.audit_list, name="audit"),
    path("api/docs/", apidocs.api_docs, name="api-docs"),
    path("docs/", guide.docs_index, name="docs-index"),
    path("docs/guide/<slug:slug>/", guide.guide_detail, name="guide-detail"),
    path("docs/components/", components.component_index, name="component-index"),
    path("docs/components/suggest/", components.component_suggest, name="component-suggest"),
    path("docs/components/<slug:name>/", components.component_detail, name="component-detail"),
]
