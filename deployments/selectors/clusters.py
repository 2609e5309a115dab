"""Reads about Kubernetes clusters.

Every signed-in user may see which clusters there are and how they are (a namespace
is bound to one by name); where they are (the server URL) and how they are trusted
is for staff, so the API and the pages ask ``cluster_details_visible``."""

from __future__ import annotations

from django.db.models import QuerySet

from deployments.models import Cluster
from portal.permissions import AnyUser, is_staff
from portal.services.errors import NotFound


def cluster_list() -> QuerySet[Cluster]:
    # The token column never leaves the database through a read.
    return Cluster.objects.defer("token_encrypted").order_by("name")


def cluster_get(*, name: str) -> Cluster:
    cluster = cluster_list().filter(name=name).first()
    if cluster is None:
        raise NotFound(f"No such cluster: {name!r}.")
    return cluster


def cluster_details_visible(user: AnyUser) -> bool:
    return is_staff(user)
