"""Producing tasks from services, by name, once the caller's transaction commits.

Services enqueue through here instead of importing campaigns.tasks (which imports the services): producers need
only a task's name and queue (campaigns.queues), and a worker never sees a row the request has not committed.
Each service step sends its messages from one on-commit callback.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

from campaigns.queues import queue_of

Message = tuple  # (task name, *integer ids)


def send(task_name: str, *args: int, countdown: float | None = None) -> None:
    """Send now (outside a transaction, or when the caller has already committed)."""
    current_app.send_task(task_name, args=list(args), queue=queue_of(task_name), countdown=countdown)


def after_commit(*messages: Message) -> None:
    def send_all() -> None:
        for name, *args in messages:
            send(name, *args)

    transaction.on_commit(send_all)


def campaign_started(campaign_id: int) -> None:
    """Prompts synthesised ahead, and the dispatcher kicked rather than waiting for its next beat."""
    after_commit(("campaigns.presynthesize_prompts", campaign_id), ("campaigns.dispatch",))


def calls_released(campaign_id: int, attempt_ids: list[int]) -> None:
    """One dial task per attempt; then the next contacts' personal prompts, kept synthesised ahead."""
    after_commit(
        *(("campaigns.place_call", attempt_id) for attempt_id in attempt_ids),
        (
            "campaigns.presynthesize_prompts",
            campaign_id,
        ),
    )


def webhook(delivery_id: int) -> None:
    after_commit(("campaigns.deliver_webhook", delivery_id))


def contact_import(import_id: int) -> None:
    after_commit(("campaigns.import_contacts_file", import_id))


def rehearsal_calls(call_ids: list[int]) -> None:
    after_commit(*(("campaigns.rehearse_call", call_id) for call_id in call_ids))
