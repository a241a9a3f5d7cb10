"""Campaign lifecycle services: start a campaign, check calling windows, record do-not-call requests."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import transaction
from django.utils import timezone

from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall
from pipeline.script import validate_script


class CampaignStateError(ValueError):
    pass


def start_campaign(campaign: Campaign) -> int:
    """Move a draft or paused campaign to running and queue one attempt per pending contact.

    Returns how many attempts were queued. Safe to call twice: the status change is a guarded UPDATE, and
    attempts are unique per (contact, attempt number).
    """
    from pipeline.tasks import enqueue_calls

    validate_script(campaign.script)
    with transaction.atomic():
        moved = Campaign.objects.filter(
            id=campaign.id, status__in=[Campaign.Status.DRAFT, Campaign.Status.PAUSED]
        ).update(status=Campaign.Status.RUNNING, started_at=timezone.now())
        if not moved:
            raise CampaignStateError(
                f"Campaign {campaign.name!r} is {campaign.status}; only a draft or paused campaign can start."
            )
        blocked = set(DoNotCall.objects.for_tenant(campaign.tenant_id).values_list("phone", flat=True))
        pending = Contact.objects.filter(campaign=campaign, status=Contact.Status.PENDING)
        Contact.objects.filter(campaign=campaign, status=Contact.Status.PENDING, phone__in=blocked).update(
            status=Contact.Status.SKIPPED, skip_reason="on the do-not-call list"
        )
        attempts = [
            CallAttempt(tenant_id=campaign.tenant_id, campaign=campaign, contact_id=contact_id, attempt_number=1)
            for contact_id in pending.exclude(phone__in=blocked).values_list("id", flat=True)
        ]
        CallAttempt.objects.bulk_create(attempts, batch_size=2000, ignore_conflicts=True)
        Contact.objects.filter(campaign=campaign, status=Contact.Status.PENDING).update(status=Contact.Status.QUEUED)
        attempt_ids = list(
            CallAttempt.objects.filter(campaign=campaign, status=CallAttempt.Status.QUEUED).values_list("id", flat=True)
        )
        transaction.on_commit(lambda: enqueue_calls(attempt_ids))
    campaign.refresh_from_db()
    return len(attempt_ids)


class NoCallingWindow(ValueError):
    """The daily window never opens in all of a contact's zones at once."""


def _inside(campaign: Campaign, zone: str, moment: dt.datetime) -> bool:
    local = moment.astimezone(zoneinfo.ZoneInfo(zone)).time()
    return campaign.window_start <= local < campaign.window_end


def calling_window_opens(campaign: Campaign, zones: list[str], now: dt.datetime) -> dt.datetime | None:
    """None when `now` is inside the daily window in every zone (the most restrictive wins); otherwise the next
    moment (UTC) when it is. Raises NoCallingWindow when the zones' windows never overlap."""
    if all(_inside(campaign, zone, now) for zone in zones):
        return None
    candidates = []
    for zone in zones:
        tz = zoneinfo.ZoneInfo(zone)
        today = now.astimezone(tz).date()
        for days in range(3):
            opening = dt.datetime.combine(today + dt.timedelta(days=days), campaign.window_start, tzinfo=tz)
            if opening > now:
                candidates.append(opening.astimezone(dt.UTC))
    for moment in sorted(candidates):
        if all(_inside(campaign, zone, moment) for zone in zones):
            return moment
    raise NoCallingWindow(
        f"The calling window {campaign.window_start:%H:%M}-{campaign.window_end:%H:%M} is never open in all of "
        f"{', '.join(zones)} at once; set the contact's timezone."
    )


def add_to_do_not_call(tenant_id: int, phone: str, reason: str) -> None:
    DoNotCall.objects.get_or_create(tenant_id=tenant_id, phone=phone, defaults={"reason": reason})


def complete_if_done(campaign_id: int) -> bool:
    """Mark a running campaign completed once no attempt is left to dial or finish."""
    open_attempts = CallAttempt.objects.filter(
        campaign_id=campaign_id,
        status__in=[CallAttempt.Status.QUEUED, CallAttempt.Status.DIALING, CallAttempt.Status.ENDED],
    )
    if open_attempts.exists():
        return False
    return bool(
        Campaign.objects.filter(id=campaign_id, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.COMPLETED, completed_at=timezone.now()
        )
    )
