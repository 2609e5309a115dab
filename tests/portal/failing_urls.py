"""The portal's URLs and `/failing/`, which raises: a real unhandled error."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from portal.urls import handler400, handler404, handler500
from portal.urls import urlpatterns as portal_urls


def failing(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a deliberate failure")


urlpatterns = [path("failing/", failing), *portal_urls]
__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]
