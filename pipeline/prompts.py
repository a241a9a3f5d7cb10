"""Prompt pre-synthesis and the campaign's TTS cache figures.

Before dialling starts, `presynthesize(campaign_id)` renders every prompt of the campaign's script into the prompt
cache: the static ones once, the personalised ones (`{first_name}`) for the next contacts to be dialled. During
calls the campaign's Speaker counts, per prompt, whether it came from the cache; both sets of figures live in one
Redis hash per campaign (`cache_stats`). Plain functions: a Celery task only needs to call `presynthesize`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from pipeline.script import render, template_fields
from pipeline.tts import TTSError

log = logging.getLogger(__name__)

DEFAULT_NEXT_CONTACTS = 50
STATS_TTL_SECONDS = 90 * 24 * 3600


def stats_key(campaign_id: int) -> str:
    return f"robocall:tts-cache:campaign:{campaign_id}"


def script_prompts(script: dict) -> list[tuple[str, str]]:
    """(node, prompt template) for everything the robot can say, re-prompts included, in script order."""
    from pipeline.conversation import REPROMPT_PREFIX

    prompts = []
    for name, node in script["nodes"].items():
        say = node.get("say", "")
        if not say:
            continue
        prompts.append((name, say))
        if node["type"] == "ask":
            prompts.append((name, REPROMPT_PREFIX.replace("{", "{{").replace("}", "}}") + say))
    return prompts


def split_prompts(script: dict) -> tuple[list[str], list[str]]:
    """(static texts, templates with placeholders)."""
    static, personal = [], []
    for _, template in script_prompts(script):
        if template_fields(template):
            personal.append(template)
        else:
            text = render(template, {})
            if text not in static:
                static.append(text)
    return static, personal


def next_contacts(campaign, limit: int):
    """The contacts the dispatcher releases next (same order: due time, then id)."""
    from campaigns.models import Contact

    return list(
        Contact.objects.filter(campaign=campaign, status__in=[Contact.Status.PENDING, Contact.Status.QUEUED]).order_by(
            F("next_attempt_at").asc(nulls_first=True), "id"
        )[:limit]
    )


def presynthesize(campaign_id: int, next_contacts_count: int | None = None) -> dict:
    """Synthesise the campaign's static prompts and the personalised ones of the next contacts into the cache.

    Idempotent and cheap to run again (cached prompts are only checked). Returns and stores the figures.
    """
    from campaigns.models import Campaign
    from pipeline import speech

    campaign = Campaign.objects.get(id=campaign_id)
    if next_contacts_count is None:
        next_contacts_count = getattr(settings, "TTS_PRESYNTH_CONTACTS", DEFAULT_NEXT_CONTACTS)
    speaker = speech.speaker(campaign.tts_engine, campaign.voice, campaign.language)
    _, templates = split_prompts(campaign.script)
    contacts = next_contacts(campaign, next_contacts_count) if templates else []
    figures = synthesize_prompts(speaker, campaign.script, [c.template_context() for c in contacts])
    figures["presynth_at"] = timezone.now().isoformat()
    _store(campaign_id, figures)
    log.info("campaign %s: pre-synthesised %s", campaign_id, figures)
    return figures


def synthesize_prompts(speaker, script: dict, contexts: list[dict]) -> dict:
    """The work of `presynthesize` without the database: static prompts plus each context's personal ones."""
    static, templates = split_prompts(script)
    personal: list[str] = []
    for context in contexts:
        for template in templates:
            text = render(template, context)
            if text not in personal:
                personal.append(text)
    hits, misses, failed = speaker.hits, speaker.misses, 0
    started = time.monotonic()
    for text in static + personal:
        try:
            speaker.synthesize(text)
        except TTSError as exc:  # one bad prompt does not stop the others; the call will try again live
            failed += 1
            log.warning("pre-synthesis of %r failed: %s", text[:60], exc)
    return {
        "presynth_failed": failed,
        "presynth_static": len(static),
        "presynth_personal": len(personal),
        "presynth_contacts": len(contexts),
        "presynth_synthesized": speaker.misses - misses,
        "presynth_already_cached": speaker.hits - hits,
        "presynth_seconds": round(time.monotonic() - started, 3),
    }


# --- figures in Redis ------------------------------------------------------------------------------------


def _redis() -> redis.Redis:
    from pipeline.limits import client

    return client()


def _store(campaign_id: int, figures: dict) -> None:
    try:
        pipe = _redis().pipeline()
        pipe.hset(stats_key(campaign_id), mapping=figures)
        pipe.expire(stats_key(campaign_id), STATS_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:  # figures are nice to have; a call or a pre-synthesis never fails on them
        log.warning("could not store TTS cache figures for campaign %s: %s", campaign_id, exc)


def lookup_counter(campaign_id: int) -> Callable[[bool], None]:
    """For Speaker(on_lookup=...): counts each live prompt as a cache hit or miss for the campaign."""

    def count(hit: bool) -> None:
        try:
            _redis().hincrby(stats_key(campaign_id), "call_hits" if hit else "call_misses", 1)
        except redis.RedisError as exc:
            log.warning("could not count a TTS cache lookup for campaign %s: %s", campaign_id, exc)

    return count


def cache_stats(campaign_id: int) -> dict:
    """Pre-synthesis figures plus the live hit rate: hits / (hits + misses) over the campaign's calls so far."""
    raw = {k.decode(): v.decode() for k, v in _redis().hgetall(stats_key(campaign_id)).items()}
    stats: dict = {}
    for key, value in raw.items():
        try:
            stats[key] = int(value)
        except ValueError:
            try:
                stats[key] = float(value)
            except ValueError:
                stats[key] = value
    hits, misses = stats.get("call_hits", 0), stats.get("call_misses", 0)
    stats["call_hits"], stats["call_misses"] = hits, misses
    stats["call_hit_rate"] = round(hits / (hits + misses), 4) if hits + misses else None
    return stats


def reset_stats(campaign_id: int) -> None:
    _redis().delete(stats_key(campaign_id))
