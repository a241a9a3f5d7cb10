"""The Celery queues and the names of the tasks on them: one list, read by the task decorators
(campaigns.tasks), the producer helpers (campaigns.enqueue), routing (project.celery) and /metrics."""

from __future__ import annotations

DIAL = "dial"  # live calls: one task per attempt, held for the whole call
POST_CALL = "post_call"  # full transcript and analysis (CPU-heavy)
TTS = "tts"  # prompt pre-synthesis ahead of the calls
WEBHOOKS = "webhooks"
DEFAULT = "default"  # dispatcher, finalize (retries, completion: never behind analyses), recovery, sweeper, imports

ALL = (DIAL, POST_CALL, TTS, WEBHOOKS, DEFAULT)

# Task name -> queue. Names are part of the wire format (queued messages carry them): rename with an alias.
TASKS = {
    "campaigns.dispatch": DEFAULT,
    "campaigns.recover_abandoned": DEFAULT,
    "campaigns.sweep": DEFAULT,
    "campaigns.import_contacts_file": DEFAULT,
    "campaigns.place_call": DIAL,
    "campaigns.rehearse_call": DIAL,  # a rehearsal's call: same workers, engines and script as live calls
    "campaigns.finalize_call": DEFAULT,
    "campaigns.analyze_call": POST_CALL,
    "campaigns.presynthesize_prompts": TTS,
    "campaigns.deliver_webhook": WEBHOOKS,
}
# Names used before the dialler moved out of pipeline/: still consumed for one release so messages queued by
# the previous version are not stranded (see README "Upgrading").
_PREVIOUS_RELEASE = (  # the tasks that existed under pipeline.tasks.*
    "dispatch",
    "recover_abandoned",
    "import_contacts_file",
    "place_call",
    "finalize_call",
    "analyze_call",
    "presynthesize_prompts",
    "deliver_webhook",
)
LEGACY_NAMES = {f"pipeline.tasks.{name}": f"campaigns.{name}" for name in _PREVIOUS_RELEASE}


def queue_of(task_name: str) -> str | None:
    return TASKS.get(LEGACY_NAMES.get(task_name, task_name))
