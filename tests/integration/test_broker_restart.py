"""A worker outlives a Redis restart while it holds an unacknowledged message (a live call): kombu 5.7 made it
exit ("Unrecoverable error" while restoring the message; project/broker.py). Real worker, real Redis server
of the test's own, killed and started again empty."""

import datetime as dt

import pytest

from campaigns.models import CallAttempt, Campaign
from tests.factories import CampaignFactory, ContactFactory
from tests.faults.servers import PrivateRedis
from tests.support.waiting import wait_for_worker
from tests.support.workers import running_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
SILENT = "+12025550108"  # the persona that answers and says nothing: a call of several seconds in real time


def test_a_worker_keeps_working_across_a_redis_restart_mid_call(tenant, settings, tmp_path):
    redis = PrivateRedis(tmp_path)
    redis.start()
    campaign = CampaignFactory(
        tenant=tenant, status=Campaign.Status.RUNNING, window_start=dt.time(0), window_end=dt.time(23, 59, 59)
    )
    ContactFactory(campaign=campaign, phone=SILENT, timezone="UTC")
    attempts = CallAttempt.objects.filter(campaign=campaign)
    try:
        env = {"REDIS_URL": redis.url, "SIMULATOR_REALTIME": "true", "QUEUED_RESEND_SECONDS": "5"}
        with running_worker(settings, tmp_path / "worker.log", name="broker", **env) as worker:
            wait_for_worker(
                lambda: attempts.filter(status="dialing").exclude(answered_at=None).exists(), worker, "no call"
            )
            redis.restart(down_seconds=1)  # the dial task's message is unacknowledged right now
            wait_for_worker(lambda: attempts.filter(status="finalized").count() == 1, worker, "the call never ended")
            assert worker.alive() and "Unrecoverable error" not in worker.log_path.read_text()
            # And it still takes new work from the restarted, empty Redis (a second campaign: the first completed).
            later = CampaignFactory(
                tenant=tenant, status=Campaign.Status.RUNNING, window_start=dt.time(0), window_end=dt.time(23, 59, 59)
            )
            ContactFactory(campaign=later, phone="+12025550106", timezone="UTC")  # busy: an instant call
            done = CallAttempt.objects.filter(campaign=later, status="finalized")
            wait_for_worker(done.exists, worker, "no work after the restart")
    finally:
        redis.stop()
    first = attempts.order_by("id").first()
    assert first.dial_status == "answered" and first.end_reason and first.attempt_number == 1
