"""The Celery app. Queues and task names live in campaigns.queues; tasks in campaigns.tasks."""

import os

from celery import Celery
from kombu import Queue

from campaigns.queues import ALL as QUEUES
from campaigns.queues import queue_of

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")


def route(name, args, kwargs, options, task=None, **kw):
    """Celery router (settings.CELERY_TASK_ROUTES): a task sent by name goes to the queue it is declared on."""
    queue = queue_of(name)
    return {"queue": queue} if queue else None


app = Celery("robocall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.autodiscover_tasks(["campaigns"])
