"""Reads, always scoped to a tenant: views, admin, API and the demo go through these."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from campaigns.models import CallAttempt, Campaign, Membership, Tenant


def tenants_for_user(user) -> QuerySet[Tenant]:
    if not user.is_authenticated:
        return Tenant.objects.none()
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user)


def role_in(user, tenant_id: int) -> str | None:
    membership = Membership.objects.filter(user=user, tenant_id=tenant_id).first()
    return membership.role if membership else None


def campaigns_for(tenant_ids) -> QuerySet[Campaign]:
    return Campaign.objects.filter(tenant_id__in=tenant_ids)


@dataclass(frozen=True)
class Progress:
    contacts: int
    attempts: int
    finished: int
    by_disposition: dict[str, int]

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.attempts) if self.attempts else 0


def campaign_progress(campaign: Campaign) -> Progress:
    attempts = CallAttempt.objects.for_tenant(campaign.tenant_id).filter(campaign=campaign)
    totals = attempts.aggregate(
        total=Count("id"),
        finished=Count("id", filter=Q(status__in=[CallAttempt.Status.FINALIZED, CallAttempt.Status.CANCELLED])),
    )
    by_disposition = dict(
        attempts.exclude(disposition="").values_list("disposition").annotate(n=Count("id")).order_by("-n")
    )
    return Progress(campaign.contacts.count(), totals["total"], totals["finished"], by_disposition)
