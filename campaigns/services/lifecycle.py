"""Campaign lifecycle: draft -> scheduled -> running <-> paused -> completed / cancelled.

Each transition is a guarded change under a row lock: repeating one that already happened is a no-op (returns
False), an impossible one raises CampaignStateError, and every real change is recorded as a CampaignEvent with
who made it. Dialling itself is driven by the dispatcher (campaigns.services.dispatch), which a start or resume
kicks at once; a dial task that finds its campaign no longer running releases its attempt without dialling.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import Exists
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import enqueue
from campaigns.languages import asr_problem
from campaigns.models import CallAttempt, Campaign, CampaignEvent, Contact
from campaigns.services.script_versions import current_version
from campaigns.services.webhooks import queue_campaign_completed
from pipeline.script import validate_script

S = Campaign.Status
OPEN_ATTEMPTS = [CallAttempt.Status.QUEUED, CallAttempt.Status.DIALING, CallAttempt.Status.ENDED]


class CampaignStateError(ValueError):
    pass


def _transition(campaign: Campaign, allowed: list[str], target: str, actor=None, note: str = "", **fields) -> bool:
    with transaction.atomic():
        current = Campaign.objects.select_for_update().values_list("status", flat=True).get(id=campaign.id)
        if current == target:
            return False
        if current not in allowed:
            raise CampaignStateError(
                _("Campaign %(name)s is %(status)s; only a %(allowed)s campaign can become %(target)s.")
                % {"name": repr(campaign.name), "status": current, "allowed": _(" or ").join(allowed), "target": target}
            )
        Campaign.objects.filter(id=campaign.id).update(status=target, **fields)
        CampaignEvent.objects.create(
            tenant_id=campaign.tenant_id,
            campaign_id=campaign.id,
            from_status=current,
            to_status=target,
            actor=actor if actor is not None and actor.is_authenticated else None,
            note=note[:200],
        )
    campaign.refresh_from_db()
    return True


def _ready(campaign: Campaign) -> None:
    validate_script(campaign.script)
    problem = asr_problem(campaign.language)
    if problem:  # never a silent call: a callee nobody can understand would be marked unclear, and called again
        raise CampaignStateError(
            _("Campaign %(name)s cannot start: %(problem)s") % {"name": repr(campaign.name), "problem": problem}
        )
    if not campaign.dry_run and campaign.trunk_id is None and settings.TELEPHONY_PROVIDER == "sip":
        raise CampaignStateError(
            _("Campaign %(name)s has no SIP trunk: pick one, or make it a dry run.") % {"name": repr(campaign.name)}
        )
    if not campaign.webhook_secret and campaign.webhook_url:
        Campaign.objects.filter(id=campaign.id).update(webhook_secret=secrets.token_hex(32))


def schedule_campaign(campaign: Campaign, starts_at, actor=None) -> bool:
    """Draft -> scheduled: the dispatcher starts it at `starts_at`."""
    _ready(campaign)
    return _transition(
        campaign, [S.DRAFT], S.SCHEDULED, actor, f"starts at {starts_at:%Y-%m-%d %H:%M %Z}", starts_at=starts_at
    )


def start_campaign(campaign: Campaign, actor=None, note: str = "") -> int:
    """Draft, scheduled or paused -> running. Returns how many contacts are waiting to be dialled."""
    _ready(campaign)
    with transaction.atomic():
        _transition(
            campaign,
            [S.DRAFT, S.SCHEDULED, S.PAUSED],
            S.RUNNING,
            actor,
            note,
            started_at=campaign.started_at or timezone.now(),
        )
        current_version(campaign, actor)  # the script it starts with is version 1 (or the latest)
        enqueue.campaign_started(campaign.id)
    return Contact.objects.filter(campaign=campaign, status=Contact.Status.PENDING).count()


def pause_campaign(campaign: Campaign, actor=None) -> bool:
    """Running -> paused. Calls in progress finish; nothing new is dialled."""
    return _transition(campaign, [S.RUNNING], S.PAUSED, actor)


def resume_campaign(campaign: Campaign, actor=None) -> int:
    """Paused -> running (re-dispatches waiting contacts). Returns how many are waiting."""
    campaign.refresh_from_db(fields=["status"])
    if campaign.status not in (S.PAUSED, S.RUNNING):
        raise CampaignStateError(
            _("Campaign %(name)s is %(status)s; only a paused campaign can resume.")
            % {"name": repr(campaign.name), "status": campaign.status}
        )
    return start_campaign(campaign, actor, note="resumed")


def cancel_campaign(campaign: Campaign, actor=None) -> int:
    """Any open state -> cancelled. Attempts not yet dialled are cancelled; returns how many."""
    with transaction.atomic():
        _transition(
            campaign, [S.DRAFT, S.SCHEDULED, S.RUNNING, S.PAUSED], S.CANCELLED, actor, completed_at=timezone.now()
        )
        cancelled = CallAttempt.objects.filter(campaign=campaign, status=CallAttempt.Status.QUEUED).update(
            status=CallAttempt.Status.CANCELLED, error="campaign cancelled"
        )
        in_call = CallAttempt.objects.filter(
            campaign=campaign, status__in=[CallAttempt.Status.DIALING, CallAttempt.Status.ENDED]
        ).values("contact_id")
        Contact.objects.filter(campaign=campaign, status__in=[Contact.Status.PENDING, Contact.Status.QUEUED]).exclude(
            id__in=in_call
        ).update(status=Contact.Status.SKIPPED, skip_reason="campaign cancelled")
    return cancelled


def complete_if_done(campaign_id: int) -> bool:
    """Running -> completed once no contact waits and no attempt is open. Sends the campaign webhook."""
    # One round trip: the campaign (when it is running) with both "anything left?" questions.
    campaign = (
        Campaign.objects.filter(id=campaign_id, status=S.RUNNING)
        .annotate(
            open_attempts=Exists(CallAttempt.objects.filter(campaign_id=campaign_id, status__in=OPEN_ATTEMPTS)),
            waiting_contacts=Exists(
                Contact.objects.filter(
                    campaign_id=campaign_id, status__in=[Contact.Status.PENDING, Contact.Status.QUEUED]
                )
            ),
        )
        .first()
    )
    if campaign is None or campaign.open_attempts or campaign.waiting_contacts:
        return False
    try:
        moved = _transition(campaign, [S.RUNNING], S.COMPLETED, note="every contact done", completed_at=timezone.now())
    except CampaignStateError:
        return False
    if moved:
        queue_campaign_completed(campaign)
    return moved


def end_campaign(campaign: Campaign) -> bool:
    """The campaign's end date passed: contacts still waiting are skipped and it completes."""
    with transaction.atomic():
        Contact.objects.filter(campaign=campaign, status=Contact.Status.PENDING).update(
            status=Contact.Status.SKIPPED, skip_reason="campaign ended before this contact was reached"
        )
        CallAttempt.objects.filter(campaign=campaign, status=CallAttempt.Status.QUEUED).update(
            status=CallAttempt.Status.CANCELLED, error="campaign ended"
        )
    return complete_if_done(campaign.id)
