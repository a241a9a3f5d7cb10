"""Who may see and do what in the dashboard: the same tenant scoping and roles as the admin and the API.

Objects of a tenant the user is not a member of answer 404, exactly like objects that do not exist. Inside a
tenant every member reads (reports, calls, recordings, exports); owners and managers also change campaigns.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from campaigns.models import WRITE_ROLES, CallAttempt, Campaign, Role
from campaigns.selectors import campaigns_for, role_in, tenants_for_user


def role_for(user, tenant_id: int) -> str | None:
    """The user's role in the tenant; a superuser may do what an owner may (as in the admin and the API)."""
    if user.is_superuser:
        return Role.OWNER
    return role_in(user, tenant_id)


def can_write(role: str | None) -> bool:
    return role in WRITE_ROLES


def member_campaign(request, campaign_id: int) -> tuple[Campaign, str | None]:
    campaign = get_object_or_404(campaigns_for(tenants_for_user(request.user)).select_related("tenant"), id=campaign_id)
    return campaign, role_for(request.user, campaign.tenant_id)


def member_attempt(request, attempt_id: int) -> CallAttempt:
    return get_object_or_404(
        CallAttempt.objects.filter(tenant__in=tenants_for_user(request.user)).select_related("contact", "campaign"),
        id=attempt_id,
    )
