"""The Celery app. Queues: dial (live calls), post_call (transcripts, analysis), tts (prompt pre-synthesis),
webhooks, default (dispatcher, imports)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

QUEUES: dict[str, str] = {}  # task name -> queue, filled by pipeline.tasks.robot_task


def route(name, args, kwargs, options, task=None, **kw):
    """Celery router (settings.CELERY_TASK_ROUTES): each task goes to the queue it was declared with."""
    return {"queue": QUEUES[name]} if name in QUEUES else None


app = Celery("robocall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("dial", "post_call", "tts", "webhooks", "default")]
app.autodiscover_tasks(["pipeline"])
