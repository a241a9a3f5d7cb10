"""OpenAPI: every operation documents the shared error body for the failures it can answer."""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse

from campaigns.api.serializers import ErrorSerializer

_DESCRIPTIONS = {
    "400": "Invalid input; `fields` names each invalid field.",
    "401": "Not authenticated: send `Authorization: Token <key>`.",
    "403": "Your role in this tenant cannot do this (viewers are read-only).",
    "404": "No such object in this tenant, or you are not a member of the tenant.",
    "409": "The object's state does not allow this.",
    "429": "Too many requests; retry after the `Retry-After` header's seconds.",
}


class AutoSchema(openapi.AutoSchema):
    def _error_codes(self) -> list[str]:
        codes = ["401", "404", "429"]
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            codes.append("403")
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            codes.append("400")
        return codes

    def get_tags(self) -> list[str]:
        # /api/v1/tenants/{tenant_slug}/<resource>/...: tag by resource rather than by the "tenants" prefix
        parts = [p for p in self.path.split("/") if p]
        if len(parts) > 4 and parts[3] == "{tenant_slug}":
            return [parts[4]]
        return [parts[2]] if len(parts) > 2 else super().get_tags()

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response" or not self.path.startswith("/api/v1/tenants/"):
            return responses
        for code, response in responses.items():
            if not response.get("description") and code in _DESCRIPTIONS:
                response["description"] = _DESCRIPTIONS[code]
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code]), code, direction=direction
                )
        return dict(sorted(responses.items()))
