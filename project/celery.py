"""The Celery app. Queues and task names live in campaigns.queues; tasks in campaigns.tasks."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
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


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task=None, **kwargs) -> None:
    """Django's request-cycle rule around every task: a connection is reused until CONN_MAX_AGE, and closed when it
    failed and no longer answers (a database restart). Celery's own Django fixup closes the connection before and
    after every task instead (CELERY_DB_REUSE_MAX unset), which cost each dial and each finalize a new PostgreSQL
    connection (~20-30 ms here: most of a call's bookkeeping); settings.CELERY_DB_REUSE_MAX turns that off."""
    if task is not None and getattr(task.request, "is_eager", False):
        return  # inside the caller's transaction (tests, eager mode): leave its connection alone
    from django.db import close_old_connections

    close_old_connections()
