"""Minimal campaign lifecycle: pause, resume, cancel, each a guarded status UPDATE (0 or 1 row moves).

Start lives in campaigns.services.campaigns.start_campaign. A dial task that finds its campaign not running
releases its attempt back to the queue without dialling (pipeline.calls.place_call), so pausing needs no
task revocation; resuming re-enqueues whatever is still queued.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.services.campaigns import CampaignStateError, start_campaign


def _move(campaign: Campaign, from_statuses: list[str], to_status: str, verb: str, **fields) -> None:
    moved = Campaign.objects.filter(id=campaign.id, status__in=from_statuses).update(status=to_status, **fields)
    if not moved:
        campaign.refresh_from_db(fields=["status"])
        allowed = " or ".join(from_statuses)
        raise CampaignStateError(
            f"Campaign {campaign.name!r} is {campaign.status}; only a {allowed} campaign can {verb}."
        )


def pause_campaign(campaign: Campaign) -> None:
    """Running -> paused. Calls already in progress finish; queued ones wait."""
    _move(campaign, [Campaign.Status.RUNNING], Campaign.Status.PAUSED, "pause")
    campaign.refresh_from_db()


def resume_campaign(campaign: Campaign) -> int:
    """Paused -> running; re-enqueues queued attempts (and contacts added while paused). Returns how many."""
    campaign.refresh_from_db(fields=["status"])
    if campaign.status != Campaign.Status.PAUSED:
        raise CampaignStateError(f"Campaign {campaign.name!r} is {campaign.status}; only a paused campaign can resume.")
    return start_campaign(campaign)


def cancel_campaign(campaign: Campaign) -> int:
    """Draft, running or paused -> cancelled; attempts not yet dialled are cancelled. Returns how many."""
    with transaction.atomic():
        _move(
            campaign,
            [Campaign.Status.DRAFT, Campaign.Status.RUNNING, Campaign.Status.PAUSED],
            Campaign.Status.CANCELLED,
            "be cancelled",
            completed_at=timezone.now(),
        )
        cancelled = CallAttempt.objects.filter(campaign=campaign, status=CallAttempt.Status.QUEUED).update(
            status=CallAttempt.Status.CANCELLED, error="campaign cancelled"
        )
        Contact.objects.filter(campaign=campaign, status__in=[Contact.Status.PENDING, Contact.Status.QUEUED]).update(
            status=Contact.Status.SKIPPED, skip_reason="campaign cancelled"
        )
    campaign.refresh_from_db()
    return cancelled
