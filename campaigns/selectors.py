"""Reads, always scoped to a tenant: views, admin, API and the demo go through these."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from campaigns.models import CallAttempt, Campaign, Contact, Membership, Tenant


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
    contacts_done: int  # reached an end: done (no retry left) or skipped (do-not-call, window never open, ...)
    attempts: int
    finished: int  # attempts finalised or cancelled
    by_disposition: dict[str, int]

    @property
    def percent(self) -> int:
        """Share of contacts that need nothing more: what a manager means by "how far along"."""
        return int(100 * self.contacts_done / self.contacts) if self.contacts else 0


def campaign_progress(campaign: Campaign) -> Progress:
    attempts = CallAttempt.objects.for_tenant(campaign.tenant_id).filter(campaign=campaign)
    totals = attempts.aggregate(
        total=Count("id"),
        finished=Count("id", filter=Q(status__in=[CallAttempt.Status.FINALIZED, CallAttempt.Status.CANCELLED])),
    )
    contacts = (
        Contact.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign)
        .aggregate(
            total=Count("id"), done=Count("id", filter=Q(status__in=[Contact.Status.DONE, Contact.Status.SKIPPED]))
        )
    )
    by_disposition = dict(
        attempts.exclude(disposition="").values_list("disposition").annotate(n=Count("id")).order_by("-n")
    )
    return Progress(contacts["total"], contacts["done"], totals["total"], totals["finished"], by_disposition)
