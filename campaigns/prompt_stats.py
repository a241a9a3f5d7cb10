"""A campaign's TTS cache figures in Redis: what pre-synthesis did and, per live prompt, cache hit or miss.

One hash per campaign; light on purpose (Redis only): the dashboard and /metrics read it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from campaigns.limits import client

log = logging.getLogger(__name__)

STATS_TTL_SECONDS = 90 * 24 * 3600
STATS_KEY_PREFIX = "robocall:tts-cache:campaign:"


def stats_key(campaign_id: int) -> str:
    return f"{STATS_KEY_PREFIX}{campaign_id}"


def store(campaign_id: int, figures: dict) -> None:
    try:
        pipe = client().pipeline()
        pipe.hset(stats_key(campaign_id), mapping=figures)
        pipe.expire(stats_key(campaign_id), STATS_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:  # figures are nice to have; a call or a pre-synthesis never fails on them
        log.warning("could not store TTS cache figures for campaign %s: %s", campaign_id, exc)


def lookup_counter(campaign_id: int) -> Callable[[bool], None]:
    """For Speaker(on_lookup=...): counts each live prompt as a cache hit or miss for the campaign."""

    def count(hit: bool) -> None:
        try:
            client().hincrby(stats_key(campaign_id), "call_hits" if hit else "call_misses", 1)
        except redis.RedisError as exc:
            log.warning("could not count a TTS cache lookup for campaign %s: %s", campaign_id, exc)

    return count


def cache_stats(campaign_id: int) -> dict:
    """Pre-synthesis figures plus the live hit rate: hits / (hits + misses) over the campaign's calls so far."""
    raw = {k.decode(): v.decode() for k, v in client().hgetall(stats_key(campaign_id)).items()}
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
    client().delete(stats_key(campaign_id))
