"""What `OPTIONS` answers on the API."""

from __future__ import annotations

from typing import Any

from rest_framework.metadata import SimpleMetadata


class PortalMetadata(SimpleMetadata):
    """Name, description and formats, without DRF's "actions": those introspect a
    view's serializer_class, which our views (serializers per method, or none)
    do not have, and DRF answered OPTIONS with an AssertionError (a 500). The
    request and response fields are in the OpenAPI schema at /api/v1/schema/."""

    def determine_actions(self, request: Any, view: Any) -> dict[str, Any]:
        return {}

    def determine_metadata(self, request: Any, view: Any) -> dict[str, Any]:
        metadata = dict(super().determine_metadata(request, view))
        metadata.pop("actions", None)
        return metadata
