"""Rehearsals against real Celery workers: `manage.py rehearse` (the calls go over Redis to the dial queue and run
in the worker's process, same task machinery, engines and script as live calls, while a webhook receiver listens
for anything a rehearsal must never send), and a rehearsal whose dial worker is killed mid-call."""

import datetime as dt
import io
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Now

from campaigns.models import CallAttempt, Campaign, Rehearsal, RehearsalCall
from campaigns.services.rehearsals import RehearsalBusy, start_rehearsal
from project.celery import app
from tests.campaigns.test_rehearsals import PLANTED
from tests.factories import CampaignFactory, ContactFactory
from tests.support.waiting import wait_for, wait_for_worker
from tests.support.workers import WebhookReceiver, running_worker, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_rehearse_command_through_a_real_worker(tenant, settings, tmp_path):
    with WebhookReceiver() as receiver, running_worker(settings, tmp_path / "worker.log", name="rehearse") as worker:
        campaign = CampaignFactory(tenant=tenant, script=PLANTED, webhook_url=receiver.url, dry_run=False)
        ContactFactory(campaign=campaign, first_name="Ruth", custom_fields={"service": "eye test"})
        out = io.StringIO()
        call_command(
            "rehearse",
            str(campaign.id),
            "--calls",
            "4",
            "--mix",
            "agree=50,decline=25,voicemail=25",
            "--seed",
            "11",
            "--timeout",
            "240",
            stdout=out,
        )
        text = out.getvalue()
        assert worker.alive()
    rehearsal = Rehearsal.objects.get(campaign=campaign)
    assert rehearsal.status == Rehearsal.Status.DONE, text
    assert "never reached: moved" in text and "dead end (no way out without one exact answer): which_day" in text
    assert "Hello Ruth, your eye test is tomorrow" in text
    assert not CallAttempt.objects.exists() and receiver.requests == []
    assert Campaign.objects.get(id=campaign.id).status == Campaign.Status.DRAFT


def test_a_rehearsal_whose_dial_worker_dies_fails_with_the_reason_and_the_next_one_runs(tenant, settings, tmp_path):
    """The Procfile's roles as processes: an `ops` worker with the beat (recovery runs there) and a `dial` worker
    killed with SIGKILL in the middle of a rehearsal call. Nobody starts another rehearsal: recovery alone must
    fail this one, within about a lease, saying why; then a new rehearsal runs on a replacement dial worker."""
    lease = 3  # seconds; recovery runs every third of it (project.settings CELERY_BEAT_SCHEDULE)
    env = {"CALL_LEASE_SECONDS": lease}
    campaign = CampaignFactory(tenant=tenant, script=PLANTED, dry_run=False)
    ContactFactory(campaign=campaign, first_name="Ruth", custom_fields={"service": "eye test"})
    app.control.purge()
    ops = start_worker(settings, tmp_path / "ops.log", "ops", queues="default,webhooks", wait=False, **env)
    dial = start_worker(settings, tmp_path / "dial.log", "dial", 1, queues="dial", beat=False, wait=False, **env)
    try:
        ops.wait_ready()
        dial.wait_ready()
        # Decliners are kept at the planted dead end, re-asked until the script gives up. The first call loads the
        # speech engines; after it, a call is about a second of work: the worker is killed 0.3 s into one.
        rehearsal = start_rehearsal(campaign, 5, {"decline": 100}, seed=5)
        calls = RehearsalCall.objects.filter(rehearsal=rehearsal)
        wait_for_worker(lambda: calls.filter(status="ended").exists(), dial, "the first rehearsal call did not end")
        just_claimed = calls.filter(status="dialing", started_at__gt=Now() - dt.timedelta(seconds=0.1))
        assert wait_for(just_claimed.exists, 30, interval=0.01), "no rehearsal call was claimed after the first"
        time.sleep(0.3)
        dial.kill()  # the whole worker, pool child included
        killed_at = time.monotonic()
        running = calls.filter(status="dialing").first()  # it cannot end now: its worker is gone
        assert running is not None, "the kill missed the calls: none was running"
        assert running.worker and running.lease_expires_at, "a running rehearsal call keeps a lease"
        with pytest.raises(RehearsalBusy):  # still running as far as anyone can tell, until recovery
            start_rehearsal(campaign, 1, {"agree": 100})

        failed = Rehearsal.objects.filter(id=rehearsal.id, status=Rehearsal.Status.FAILED)
        wait_for_worker(failed.exists, ops, "the rehearsal was not failed after its worker died", seconds=60)
        detected_after = time.monotonic() - killed_at
        print(f"rehearsal failed {detected_after:.1f} s after its worker was killed (CALL_LEASE_SECONDS={lease})")
        # Bound: the lease, the recovery period and the beat's own latency on a loaded 2-core machine.
        assert detected_after < lease + lease / 3 + 10, detected_after
        rehearsal.refresh_from_db()
        assert rehearsal.error.startswith(f"worker lost: the worker running call {running.index} (decline) stopped")
        assert f"CALL_LEASE_SECONDS={lease}" in rehearsal.error and rehearsal.finished_at
        running.refresh_from_db()
        assert (running.status, running.end_reason) == ("ended", "worker_lost")
        assert running.lease_expires_at is None and "lease expired" in running.error
        waiting = list(calls.filter(status="queued"))
        assert waiting, "the failed rehearsal kept calls in the queue"

        # A supervisor restarts the dial role; the campaign can be rehearsed again, and the failed rehearsal's
        # call still in the queue is never run by it.
        replacement = start_worker(settings, tmp_path / "dial2.log", "dial2", 1, queues="dial", beat=False, **env)
        try:
            again = start_rehearsal(campaign, 1, {"agree": 100}, seed=6)
            done = Rehearsal.objects.filter(id=again.id, status=Rehearsal.Status.DONE)
            wait_for_worker(done.exists, replacement, "the next rehearsal did not finish", seconds=120)
            assert "not-claimed" in replacement.log_path.read_text()  # the failed rehearsal's queued call
        finally:
            replacement.stop()
        assert calls.filter(id__in=[w.id for w in waiting], status="queued", turns=[]).count() == len(waiting)
        assert ops.alive(), ops.log_tail()
    finally:
        dial.stop()
        ops.stop()
        connection.close()
    assert list(Rehearsal.objects.filter(campaign=campaign).order_by("id").values_list("status", flat=True)) == [
        "failed",
        "done",
    ]
