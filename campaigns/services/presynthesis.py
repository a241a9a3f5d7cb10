"""Prompt pre-synthesis for a campaign.

Before dialling starts (and whenever the dispatcher releases a batch), `presynthesize(campaign_id)` renders every
prompt of the campaign's script into the prompt cache: the static ones once, the personalised ones
(`{first_name}`) for the next contacts to be dialled. During calls the campaign's Speaker counts, per prompt,
whether it came from the cache; both sets of figures live in campaigns.prompt_stats.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from campaigns import engines, prompt_stats
from campaigns.models import Campaign, Contact
from pipeline.prompts import split_prompts, synthesize_prompts

log = logging.getLogger(__name__)


def next_contacts(campaign: Campaign, limit: int) -> list[Contact]:
    """The contacts the dispatcher releases next (same order: due time, then id)."""
    return list(
        Contact.objects.filter(campaign=campaign, status__in=[Contact.Status.PENDING, Contact.Status.QUEUED]).order_by(
            F("next_attempt_at").asc(nulls_first=True), "id"
        )[:limit]
    )


def presynthesize(campaign_id: int, next_contacts_count: int | None = None) -> dict:
    """Synthesise the campaign's static prompts and the personalised ones of the next contacts into the cache.

    Idempotent and cheap to run again (cached prompts are only checked). Returns and stores the figures.
    """
    campaign = Campaign.objects.get(id=campaign_id)
    if next_contacts_count is None:
        next_contacts_count = settings.TTS_PRESYNTH_CONTACTS
    speaker = engines.speaker(campaign.tts_engine, campaign.voice, campaign.language)
    _, templates = split_prompts(campaign.script)
    contacts = next_contacts(campaign, next_contacts_count) if templates else []
    figures = synthesize_prompts(speaker, campaign.script, [c.template_context() for c in contacts])
    figures["presynth_at"] = timezone.now().isoformat()
    prompt_stats.store(campaign_id, figures)
    log.info("campaign %s: pre-synthesised %s", campaign_id, figures)
    return figures
