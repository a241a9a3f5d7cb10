"""Celery tasks: thin wrappers over pipeline.calls. They take ids, are idempotent, and are safe to run twice.

One decorator declares every task with its queue, time limits and late acknowledgement, so routing and
limits are visible in one place (and a test checks each task's queue).
"""

from __future__ import annotations

import datetime as dt

from celery import chain
from django.conf import settings

from pipeline import calls
from project.celery import QUEUES, app

CALL_TIME_LIMIT = settings.CALL_MAX_SECONDS + 120


def robot_task(queue: str, time_limit: int):
    """Declare a task with its queue (routed by project.celery.route), late ack, and soft/hard time limits."""

    def register(func):
        QUEUES[f"{func.__module__}.{func.__name__}"] = queue
        return app.task(
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            soft_time_limit=time_limit,
            time_limit=time_limit + 30,
        )(func)

    return register


@robot_task("dial", CALL_TIME_LIMIT)
def place_call(attempt_id: int) -> str:
    outcome = calls.place_call(attempt_id)
    if outcome == "ended":
        post_call_chain(attempt_id).apply_async()
    elif outcome.startswith("deferred:"):
        place_call.apply_async((attempt_id,), eta=dt.datetime.fromisoformat(outcome.split(":", 1)[1]))
    return outcome


@robot_task("post_call", 120)
def finalize_call(attempt_id: int) -> bool:
    return calls.finalize_call(attempt_id)


@robot_task("post_call", 600)
def analyze_call(attempt_id: int) -> dict:
    return calls.analyze_call(attempt_id)


def post_call_chain(attempt_id: int):
    return chain(finalize_call.si(attempt_id), analyze_call.si(attempt_id))


def enqueue_calls(attempt_ids: list[int]) -> None:
    """Called on commit by start_campaign: one dial task per attempt."""
    for attempt_id in attempt_ids:
        place_call.delay(attempt_id)
