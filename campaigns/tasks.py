"""Celery tasks: thin wrappers over services. They take ids, are idempotent, and are safe to run twice.

One decorator declares every task with its explicit name, time limits and late acknowledgement. Each name's queue
is declared beside it in campaigns.queues.TASKS and applied by the router (project.celery.route): Celery 5.7
deprecates the task `queue` attribute in favour of routing. A test checks that every task is routed.
"""

from __future__ import annotations

import logging
import random

import kombu.exceptions
from celery import shared_task
from django.conf import settings

from campaigns import counters, queues
from campaigns.services import analysis, calls, imports, presynthesis, rehearsal_calls, rehearsals, webhooks
from campaigns.services import dispatch as dispatcher
from campaigns.services.call_guard import DATABASE_DOWN

log = logging.getLogger(__name__)
CALL_TIME_LIMIT = settings.CALL_MAX_SECONDS + 120


def robot_task(name: str, time_limit: int, **options):
    """Declare a task under `name` (routed to queues.TASKS[name]), with late ack and soft/hard time limits; the
    name the previous release used is registered too (same function, same queue) so messages it queued still run."""

    def register(func):
        if name not in queues.TASKS:
            raise LookupError(f"{name} has no queue in campaigns.queues.TASKS")
        declared = dict(
            # The database unreachable (a restart, a pause): try again with backoff rather than drop the message.
            autoretry_for=DATABASE_DOWN,
            retry_backoff=2,
            retry_backoff_max=60,
            max_retries=options.pop("max_retries", 30),
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            soft_time_limit=time_limit,
            time_limit=time_limit + 30,
            **options,
        )
        for legacy, current in queues.LEGACY_NAMES.items():
            if current == name:
                shared_task(name=legacy, **declared)(func)
        return shared_task(name=name, **declared)(func)

    return register


def _follow_up(send, what: str) -> None:
    """Send the next message of a piece of work; with the broker down it is left to the sweeper, which finds the
    work by its rows in PostgreSQL, instead of failing a task whose own work is done."""
    try:
        send()
    except kombu.exceptions.OperationalError as exc:
        log.warning("%s not sent (%s); the sweeper will send it", what, exc)


@robot_task("campaigns.dispatch", 60, expires=settings.DISPATCH_INTERVAL_SECONDS * 5)
def dispatch() -> int:
    """Release due contacts as attempts (beat runs this every DISPATCH_INTERVAL_SECONDS; start kicks it)."""
    return len(dispatcher.dispatch_due())


@robot_task("campaigns.recover_abandoned", 60, expires=60)
def recover_abandoned() -> int:
    """Calls whose worker died: live attempts are ended and finalized, rehearsals with such a call failed."""
    recovered = dispatcher.recover_abandoned()
    for attempt_id in recovered:
        _follow_up(lambda a=attempt_id: finalize_call.delay(a), f"finalize of attempt {attempt_id}")
    return len(recovered) + len(rehearsals.recover_lost_calls())


@robot_task("campaigns.sweep", 60, expires=60)
def sweep() -> dict:
    """Send again what a lost message left undone (see dispatch.find_stranded); every receiver is idempotent."""
    stranded = dispatcher.find_stranded()
    for attempt_id in stranded.queued:
        place_call.delay(attempt_id)
    for attempt_id in stranded.ended:
        finalize_call.delay(attempt_id)
    for attempt_id in stranded.unanalysed:
        analyze_call.delay(attempt_id)
    for delivery_id in stranded.webhooks:
        deliver_webhook.delay(delivery_id)
    for import_id in stranded.imports:
        import_contacts_file.delay(import_id)
    # Rehearsal calls are not re-sent (all of a rehearsal's are queued at once: a re-send would double a long
    # queue); a rehearsal whose calls stopped finishing is failed instead. Folding keeps the counters' unfolded
    # deltas few, so reads stay fast (reads are exact either way).
    return {name: len(ids) for name, ids in vars(stranded).items()} | {
        "stalled_rehearsals": rehearsals.fail_stalled(),
        "counter_deltas_folded": counters.fold(),
    }


@robot_task("campaigns.place_call", CALL_TIME_LIMIT)
def place_call(attempt_id: int) -> str:
    outcome = calls.place_call(attempt_id)
    if outcome == "ended":
        # Finalized here, at once: a second task per call (a message, a fetch, an acknowledgement) cost more than
        # the finalize itself. With the database away it goes to the finalize task, which retries; a worker killed
        # right here leaves an ENDED attempt, which the sweeper finalizes (finalize runs once whatever happens).
        try:
            _finalize(attempt_id)
        except DATABASE_DOWN as exc:
            log.warning("attempt %s: finalize left to its task (%s)", attempt_id, exc)
            _follow_up(lambda: finalize_call.delay(attempt_id), f"finalize of attempt {attempt_id}")
    elif outcome == calls.THROTTLED:
        # All channels or this second's dials are taken: try again shortly (jitter spreads the retries).
        countdown = 0.2 + random.random() * 0.6  # noqa: S311
        _follow_up(lambda: place_call.apply_async((attempt_id,), countdown=countdown), f"retry of {attempt_id}")
    return outcome


@robot_task("campaigns.rehearse_call", CALL_TIME_LIMIT)
def rehearse_call(call_id: int) -> str:
    """One call of a rehearsal, to a virtual callee (never a CallAttempt: see campaigns.services.rehearsals)."""
    return rehearsal_calls.place_rehearsal_call(call_id)


@robot_task("campaigns.finalize_call", 120)
def finalize_call(attempt_id: int) -> bool:
    """Disposition, retry and campaign completion, once; the one finalize that did it asks for the analysis (of a
    recorded call: one without a recording has nothing to analyse), so a finalize sent twice never analyses twice.
    The dial task finalizes its own call inline; this task is for the sweeper, recovery and a database outage."""
    return _finalize(attempt_id)


def _finalize(attempt_id: int) -> bool:
    return calls.finalize_call(
        attempt_id,
        then_analyse=lambda: _follow_up(lambda: analyze_call.delay(attempt_id), f"analysis of attempt {attempt_id}"),
    )


@robot_task("campaigns.analyze_call", 600)
def analyze_call(attempt_id: int) -> dict:
    return analysis.analyze_call(attempt_id)


@robot_task("campaigns.deliver_webhook", 60, bind=True, max_retries=webhooks.MAX_TRIES)
def deliver_webhook(self, delivery_id: int) -> str:
    try:
        return webhooks.deliver(delivery_id)
    except webhooks.TransientWebhookError as exc:
        # Exponential backoff: 2, 4, 8, ... seconds (times WEBHOOK_BACKOFF_SECONDS / 2).
        raise self.retry(countdown=settings.WEBHOOK_BACKOFF_SECONDS * 2**self.request.retries, exc=exc) from None


@robot_task("campaigns.presynthesize_prompts", 600, expires=600)
def presynthesize_prompts(campaign_id: int) -> dict:
    """Static prompts and the next contacts' personal ones into the prompt cache, ahead of their calls."""
    return presynthesis.presynthesize(campaign_id)


@robot_task("campaigns.import_contacts_file", 900)
def import_contacts_file(import_id: int) -> str:
    """A large call list, imported off the request (see campaigns.services.imports.upload_contacts)."""
    return imports.run_queued_import(import_id)
