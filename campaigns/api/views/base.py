"""The tenant-scoped base view set, and the views outside a tenant: token exchange, tenants, JSON 404."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from campaigns.api import serializers as s
from campaigns.api.permissions import AnonThrottle, ScopedThrottle, TenantRolePermission
from campaigns.models import (
    ApiToken,
    Membership,
)

CAMPAIGN_EXAMPLE = OpenApiExample(
    "Minimal (default script)",
    request_only=True,
    value={"name": "Flu shots 2026", "caller_id": "+12025550100", "window_start": "09:00", "window_end": "19:00"},
)
CONFLICT = OpenApiResponse(s.ErrorSerializer, description="The campaign's state does not allow this.")


class TenantScopedViewSet(viewsets.GenericViewSet):
    """Base for everything under /api/v1/tenants/<slug>/: querysets come from `model.objects.for_tenant`."""

    permission_classes = [TenantRolePermission]
    model: type = None
    ordering: tuple[str, ...] = ("-id",)
    filter_serializer_class: type[serializers.Serializer] | None = None
    throttle_scope: str | None = None  # set per action: lifecycle, upload, export
    tenant = None
    role = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return self.model.objects.none()
        return self.model.objects.for_tenant(self.tenant).order_by(*self.ordering)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "tenant": self.tenant}

    def filter_queryset(self, queryset):
        if self.action != "list" or self.filter_serializer_class is None:
            return queryset
        params = self.filter_serializer_class(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        return self.apply_filters(queryset, params.validated_data)

    def apply_filters(self, queryset, params: dict):
        return queryset.filter(**params)


class IgnoreAccept(BaseContentNegotiation):
    """For file downloads: the body is a file whatever Accept says; errors still render as JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


@extend_schema(summary="The tenants you are a member of, with your role (use the slug in every other path)")
class TenantViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.MembershipSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return Membership.objects.filter(user=self.request.user).select_related("tenant").order_by("tenant__slug")


@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
@authentication_classes([])
@permission_classes([AllowAny])
def not_found(request, *args, **kwargs):
    """Any /api/ path that names no endpoint: the JSON error body rather than Django's HTML page."""
    raise NotFound()


@extend_schema(
    summary="Exchange a username and password for an API token",
    responses={200: inline_serializer("Token", {"token": serializers.CharField()}), 400: s.ErrorSerializer},
)
class TokenView(ObtainAuthToken):
    """Each exchange issues a new key (stored only as its digest, so an earlier key cannot be shown again); a user
    keeps up to ApiToken.MAX_PER_USER keys, the oldest are revoked beyond that."""

    throttle_classes = [AnonThrottle, ScopedThrottle]
    throttle_scope = "token"

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _, key = ApiToken.issue(serializer.validated_data["user"])
        return Response({"token": key})
