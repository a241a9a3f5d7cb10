"""Prometheus metrics, computed when Prometheus scrapes `/metrics`, from PostgreSQL and Redis.

Nothing is counted inside a web or worker process, so the figures are the same whichever gunicorn worker answers
and however many Celery prefork children there are:

- calls by disposition, live calls, attempts by status: the per-campaign counters PostgreSQL keeps (triggers, see
  campaigns/models/counters.py), summed;
- campaigns by status, webhook failures: COUNTs in PostgreSQL;
- queue depth: the length of each Celery queue's list in the broker (Redis), priority lists included;
- workers consuming each queue: a Celery `active_queues` broadcast (waits METRICS_INSPECT_TIMEOUT seconds);
- TTS prompt cache hits and misses: the per-campaign counters pipeline.prompts keeps in Redis, summed;
- ASR and turn (response) latency histograms, the ASR queue wait (time a final decode waited for a free ASR
  worker) and why callee turns ended: from `Turn` rows, folded incrementally into Redis (below);
- live calls per dial worker process: the DIALING attempts grouped by the host:pid their claim token names.

The latency histograms are counters that must never go down, yet a full scan of every turn on each scrape grows
with the table. So each scrape folds only the turns it has not yet counted into cumulative bucket counts kept in
one Redis hash, and moves a high-water mark of `Turn.id`. The mark lags one scrape behind the largest id seen:
an id is only counted once a later scrape has seen a larger one, by which time a concurrent insert that took a
smaller id has committed (ids are taken at insert, committed a moment later, not always in order). The fold is a
compare-and-set (Lua), so two scrapes at once never count a turn twice.

The counters read from tables (calls by disposition, webhook failures) only go down when rows are deleted (a
campaign deleted with its calls); Prometheus takes that for a counter reset, as it does a process restart.
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from celery import current_app
from django.conf import settings
from django.db.models import Count, Max, Q, Sum
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from campaigns import counters, queues
from campaigns.limits import client
from campaigns.models import CallAttempt, Campaign, Disposition, Turn, WebhookDelivery
from campaigns.prompt_stats import STATS_KEY_PREFIX

log = logging.getLogger(__name__)

TURN_STATE_KEY = "robocall:metrics:turn-histograms"
TTS_STATS_PATTERN = f"{STATS_KEY_PREFIX}*"


@dataclass(frozen=True)
class LatencyHistogram:
    name: str  # metric name, in seconds
    field: str  # Turn field, in milliseconds
    buckets: tuple[float, ...]  # upper bounds in seconds (+Inf is added)
    doc: str

    def bucket_field(self, le: float) -> str:
        return f"{self.name}:le={le:g}"


HISTOGRAMS = (
    LatencyHistogram(
        "robocall_asr_latency_seconds",
        "asr_latency_ms",
        (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
        "Speech recognition latency per callee turn: end of speech to final text.",
    ),
    LatencyHistogram(
        "robocall_turn_latency_seconds",
        "response_latency_ms",
        (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
        "Turn (response) latency: end of the callee's speech to the robot's first audio.",
    ),
    LatencyHistogram(
        "robocall_asr_queue_wait_seconds",
        "asr_wait_ms",
        (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0),
        "Time a callee turn's final speech decode waited for a free ASR worker in its dial process.",
    ),
)
TURN_ENDINGS = ("complete", "max_wait", "pause", "max_length", "hang_up", "keypad")

# KEYS[1] the state hash; ARGV: expected last_id, new last_id, new seen_max, then field/increment pairs.
_FOLD = """
local last = redis.call('HGET', KEYS[1], 'last_id') or '0'
if last ~= ARGV[1] then return 0 end
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'last_id', ARGV[2], 'seen_max', ARGV[3])
return 1
"""


def redis_client() -> redis.Redis:
    return client()


def _turn_increments(after_id: int, upto_id: int) -> dict[str, int]:
    """Cumulative bucket counts, counts and sums (ms) of the turns with after_id < id <= upto_id: one query."""
    aggregates = {}
    for h in HISTOGRAMS:
        present = Q(**{f"{h.field}__isnull": False})
        for le in h.buckets:
            aggregates[h.bucket_field(le)] = Count("id", filter=present & Q(**{f"{h.field}__lte": le * 1000}))
        aggregates[f"{h.name}:count"] = Count("id", filter=present)
        aggregates[f"{h.name}:sum_ms"] = Sum(h.field, filter=present)
    for reason in TURN_ENDINGS:
        aggregates[f"turn_end:{reason}"] = Count("id", filter=Q(end_of_turn=reason))
    row = Turn.objects.filter(id__gt=after_id, id__lte=upto_id).aggregate(**aggregates)
    return {key: int(value or 0) for key, value in row.items()}


def fold_new_turns(client: redis.Redis) -> dict[str, int]:
    """Count the turns not yet counted into the Redis histograms, then return the histograms' state."""
    state = {k.decode(): int(v) for k, v in client.hgetall(TURN_STATE_KEY).items()}
    last_id, seen_max = state.get("last_id", 0), state.get("seen_max", 0)
    current_max = Turn.objects.aggregate(m=Max("id"))["m"] or 0
    if current_max < last_id:  # the database was restored or replaced: start again (a counter reset)
        client.delete(TURN_STATE_KEY)
        return fold_new_turns(client)
    upto = max(last_id, min(seen_max, current_max))
    increments = _turn_increments(last_id, upto) if upto > last_id else {}
    pairs = [str(item) for key, n in increments.items() if n for item in (key, n)]
    client.eval(_FOLD, 1, TURN_STATE_KEY, str(last_id), str(upto), str(current_max), *pairs)
    return {k.decode(): int(v) for k, v in client.hgetall(TURN_STATE_KEY).items()}


class RobotCollector:
    """A prometheus_client collector: every `collect()` reads the current figures (one scrape)."""

    def __init__(self, inspect_timeout: float | None = None) -> None:
        self.inspect_timeout = (
            inspect_timeout if inspect_timeout is not None else getattr(settings, "METRICS_INSPECT_TIMEOUT", 1.0)
        )

    def collect(self) -> Iterator[Metric]:
        self._broker_down = False
        up = GaugeMetricFamily(
            "robocall_metrics_source_up", "1 if the source answered during this scrape.", labels=["source"]
        )
        for source, collect in (
            ("database", self._database),
            ("redis", self._redis),
            ("broker", self._queues),
            ("workers", self._workers),
        ):
            try:
                yield from list(collect())
            except Exception:  # a scrape reports what it can; the failed source shows as 0 below
                log.exception("metrics: %s did not answer", source)
                up.add_metric([source], 0)
                self._broker_down = self._broker_down or source == "broker"
            else:
                up.add_metric([source], 1)
        yield up

    # --- PostgreSQL ---------------------------------------------------------------------------------------

    def _database(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "robocall_calls", "Calls finalised, by disposition (since the database began).", labels=["disposition"]
        )
        # The per-campaign counters (campaigns.counters), summed: a scrape reads a few rows per campaign, not
        # every attempt.
        finished: dict[str, int] = {}
        by_status: dict[str, int] = {}
        for key, n in counters.totals("attempts:").items():
            status, _, disposition = key.partition(":")
            by_status[status] = by_status.get(status, 0) + n
            if status == CallAttempt.Status.FINALIZED:
                finished[disposition] = finished.get(disposition, 0) + n
        for disposition in Disposition.values:
            calls.add_metric([disposition], finished.pop(disposition, 0))
        for disposition, n in finished.items():  # anything else the data holds, so no call goes uncounted
            calls.add_metric([disposition or "none"], n)
        yield calls

        yield GaugeMetricFamily(
            "robocall_live_calls",
            "Calls in progress (attempts claimed by a dialling worker).",
            value=by_status.get(CallAttempt.Status.DIALING, 0),
        )
        per_worker = GaugeMetricFamily(
            "robocall_worker_live_calls",
            "Calls in progress per dial worker process (host:pid of the claim).",
            labels=["worker"],
        )
        tokens = CallAttempt.objects.filter(status=CallAttempt.Status.DIALING).values_list("worker", flat=True)
        for worker, n in sorted(Counter(token.rsplit(":", 1)[0] for token in tokens if token).items()):
            per_worker.add_metric([worker], n)
        yield per_worker
        attempts = GaugeMetricFamily("robocall_call_attempts", "Call attempts by status.", labels=["status"])
        for status in CallAttempt.Status.values:
            attempts.add_metric([status], by_status.get(status, 0))
        yield attempts

        campaigns = GaugeMetricFamily("robocall_campaigns", "Campaigns by status.", labels=["status"])
        campaign_counts = dict(Campaign.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in Campaign.Status.values:
            campaigns.add_metric([status], campaign_counts.get(status, 0))
        yield campaigns

        webhook_counts = dict(WebhookDelivery.objects.values_list("status").annotate(n=Count("id")).order_by())
        yield CounterMetricFamily(
            "robocall_webhook_failures",
            "Webhook deliveries given up after their last retry (or refused permanently).",
            value=webhook_counts.get(WebhookDelivery.Status.FAILED, 0),
        )
        deliveries = GaugeMetricFamily(
            "robocall_webhook_deliveries", "Webhook deliveries by status.", labels=["status"]
        )
        for status in WebhookDelivery.Status.values:
            deliveries.add_metric([status], webhook_counts.get(status, 0))
        yield deliveries

    # --- Redis: latency histograms and TTS cache ----------------------------------------------------------

    def _redis(self) -> Iterator[Metric]:
        client = redis_client()
        state = fold_new_turns(client)
        for h in HISTOGRAMS:
            buckets = [(floatToGoString(le), state.get(h.bucket_field(le), 0)) for le in h.buckets]
            buckets.append(("+Inf", state.get(f"{h.name}:count", 0)))
            yield HistogramMetricFamily(
                h.name, h.doc, buckets=buckets, sum_value=state.get(f"{h.name}:sum_ms", 0) / 1000
            )
        endings = CounterMetricFamily(
            "robocall_turn_endings", "Callee turns by why they ended (pipeline.endpoint.EndOfTurn).", labels=["reason"]
        )
        for reason in TURN_ENDINGS:
            endings.add_metric([reason], state.get(f"turn_end:{reason}", 0))
        yield endings

        hits = misses = 0
        for key in client.scan_iter(match=TTS_STATS_PATTERN, count=500):
            h, m = client.hmget(key, "call_hits", "call_misses")
            hits, misses = hits + int(h or 0), misses + int(m or 0)
        tts = CounterMetricFamily(
            "robocall_tts_cache_lookups",
            "Prompts spoken in calls, by whether the TTS cache had them.",
            labels=["result"],
        )
        tts.add_metric(["hit"], hits)
        tts.add_metric(["miss"], misses)
        yield tts

    # --- Celery: queues and workers -----------------------------------------------------------------------

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("robocall_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"])
        with current_app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=2)  # a broker down fails fast
            channel = connection.default_channel
            for queue in queues.ALL:
                # kombu's Redis channel: LLEN of the queue's list and of its priority lists, summed.
                depth.add_metric([queue], channel._size(queue))
        yield depth

    def _workers(self) -> Iterator[Metric]:
        if self._broker_down:
            raise RuntimeError("the broker did not answer: no broadcast")
        replies = current_app.control.inspect(timeout=self.inspect_timeout).active_queues() or {}
        consumers = GaugeMetricFamily(
            "robocall_queue_consumers", "Celery workers consuming each queue (answered a broadcast).", labels=["queue"]
        )
        for queue in queues.ALL:
            consumers.add_metric(
                [queue], sum(1 for queues in replies.values() if any(q.get("name") == queue for q in queues))
            )
        yield consumers
        yield GaugeMetricFamily("robocall_workers", "Celery workers that answered the broadcast.", value=len(replies))


def render(inspect_timeout: float | None = None) -> bytes:
    return generate_latest(RobotCollector(inspect_timeout))


def token_matches(header: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
