"""Who may do what through the API: tenant membership from the URL, roles for writes, throttles.

Every API path starts with /api/v1/tenants/<slug>/. The tenant is resolved once per request, only among the
tenants the user belongs to: a tenant the user is not a member of answers 404 exactly like one that does not
exist, so the API never confirms that another tenant or its objects exist. Inside a tenant, viewers read and
owners/managers write (the same rule as the admin); a viewer's write is a 403.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from rest_framework import permissions, throttling
from rest_framework.exceptions import NotFound
from rest_framework.settings import api_settings

from campaigns.models import WRITE_ROLES, Membership, Role, Tenant
from campaigns.security import client_ip

TENANT_KWARG = "tenant_slug"


def resolve_tenant(user, slug: str) -> tuple[Tenant, str]:
    """The tenant named by `slug` and the user's role in it; NotFound unless the user is a member."""
    if user.is_superuser:  # as in the admin: a superuser sees every tenant, and may do what an owner may
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise NotFound(_("No such tenant."))
        return tenant, Role.OWNER
    membership = Membership.objects.select_related("tenant").filter(user=user, tenant__slug=slug).first()
    if membership is None:
        raise NotFound(_("No such tenant."))
    return membership.tenant, membership.role


class TenantRolePermission(permissions.BasePermission):
    """Resolves `view.tenant` and `view.role`; safe methods for any member, writes for WRITE_ROLES only."""

    message = "Your role in this tenant is read-only."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # 401 with the Token challenge
        if getattr(view, "tenant", None) is None:
            view.tenant, view.role = resolve_tenant(request.user, view.kwargs.get(TENANT_KWARG, ""))
        if request.method in permissions.SAFE_METHODS:
            return True
        return view.role in WRITE_ROLES


# --- throttles ------------------------------------------------------------------------------------------
# DRF's throttles copy DEFAULT_THROTTLE_RATES when the class is imported; these read the settings on each
# request, so a deployment (or a test with override_settings) can change a rate without a restart hack. Their
# history lives in the default cache (Redis, shared by every web worker: see CACHES).


class _LiveRates:
    """Also: the client address is campaigns.security.client_ip (X-Forwarded-For only from trusted proxies)."""

    def get_ident(self, request):
        return client_ip(request)

    def get_rate(self):
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError:
            raise ImproperlyConfigured(f"No throttle rate for scope {self.scope!r} in REST_FRAMEWORK.") from None


class AnonThrottle(_LiveRates, throttling.AnonRateThrottle):
    pass


class UserThrottle(_LiveRates, throttling.UserRateThrottle):
    pass


class ScopedThrottle(_LiveRates, throttling.ScopedRateThrottle):
    """Applies to views (or actions) that set `throttle_scope`: upload, export, lifecycle, token."""
