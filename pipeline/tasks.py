"""Celery tasks: thin wrappers over plain functions. They take ids, are idempotent, and are safe to run twice.

One decorator declares every task with its queue, time limits and late acknowledgement, so routing and limits
are visible in one place (and a test checks each task's queue).
"""

from __future__ import annotations

import random

from celery import chain
from django.conf import settings

from campaigns.services import dispatch as dispatcher
from campaigns.services import imports, webhooks
from pipeline import analysis, calls, prompts
from project.celery import QUEUES, app

CALL_TIME_LIMIT = settings.CALL_MAX_SECONDS + 120


def robot_task(queue: str, time_limit: int, **options):
    """Declare a task with its queue (routed by project.celery.route), late ack, and soft/hard time limits."""

    def register(func):
        QUEUES[f"{func.__module__}.{func.__name__}"] = queue
        return app.task(
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            soft_time_limit=time_limit,
            time_limit=time_limit + 30,
            **options,
        )(func)

    return register


@robot_task("default", 60, expires=settings.DISPATCH_INTERVAL_SECONDS * 5)
def dispatch() -> int:
    """Release due contacts as attempts (beat runs this every DISPATCH_INTERVAL_SECONDS; start kicks it)."""
    return len(dispatcher.dispatch_due())


@robot_task("default", 60, expires=60)
def recover_abandoned() -> int:
    recovered = dispatcher.recover_abandoned()
    for attempt_id in recovered:
        post_call_chain(attempt_id).apply_async()
    return len(recovered)


@robot_task("dial", CALL_TIME_LIMIT)
def place_call(attempt_id: int) -> str:
    outcome = calls.place_call(attempt_id)
    if outcome == "ended":
        post_call_chain(attempt_id).apply_async()
    elif outcome == calls.THROTTLED:
        # All channels or this second's dials are taken: try again shortly (jitter spreads the retries).
        place_call.apply_async((attempt_id,), countdown=0.2 + random.random() * 0.6)  # noqa: S311
    return outcome


@robot_task("post_call", 120)
def finalize_call(attempt_id: int) -> bool:
    return calls.finalize_call(attempt_id)


@robot_task("post_call", 600)
def analyze_call(attempt_id: int) -> dict:
    return analysis.analyze_call(attempt_id)


@robot_task("webhooks", 60, bind=True, max_retries=webhooks.MAX_TRIES)
def deliver_webhook(self, delivery_id: int) -> str:
    try:
        return webhooks.deliver(delivery_id)
    except webhooks.TransientWebhookError as exc:
        # Exponential backoff: 2, 4, 8, ... seconds (times WEBHOOK_BACKOFF_SECONDS / 2).
        raise self.retry(countdown=settings.WEBHOOK_BACKOFF_SECONDS * 2**self.request.retries, exc=exc) from None


@robot_task("tts", 600, expires=600)
def presynthesize_prompts(campaign_id: int) -> dict:
    """Static prompts and the next contacts' personal ones into the prompt cache, ahead of their calls."""
    return prompts.presynthesize(campaign_id)


@robot_task("default", 900)
def import_contacts_file(import_id: int) -> str:
    """A large call list, imported off the request (see campaigns.services.imports.upload_contacts)."""
    return imports.run_queued_import(import_id)


def post_call_chain(attempt_id: int):
    return chain(finalize_call.si(attempt_id), analyze_call.si(attempt_id))


def enqueue_calls(attempt_ids: list[int]) -> None:
    """Called on commit by the dispatcher: one dial task per attempt."""
    for attempt_id in attempt_ids:
        place_call.delay(attempt_id)
