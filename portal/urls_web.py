"""Browser pages of the portal shell: home, accounts, teams, audit, component docs."""

from django.urls import path

from portal.views import shell

urlpatterns = [
    path("", shell.home, name="home"),
    path("healthz", shell.healthz, name="healthz"),
]
