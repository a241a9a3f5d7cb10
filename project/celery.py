"""The Celery app. Queues: dial (live calls), post_call (transcripts, analysis), default."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("robocall")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("dial"), Queue("post_call"), Queue("default")]
app.autodiscover_tasks(["pipeline"])
