"""The dialler's guarantees with real Celery worker processes on Redis and PostgreSQL:
channel and calls-per-second limits measured from call timestamps, windows and do-not-call at dial time, and a
worker SIGKILLed mid-call (no attempt dialled twice, no contact lost)."""

import datetime as dt
import time
import zoneinfo

import pytest

from campaigns import tasks
from campaigns.limits import client as redis_client
from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall
from campaigns.services.lifecycle import start_campaign
from tests.factories import CampaignFactory, ContactFactory
from tests.support.waiting import wait_for_worker
from tests.support.workers import running_worker, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def zone_at_local_hour(hours: range) -> str:
    """A fixed-offset zone whose local hour is now in `hours` (so the test works at any time of day)."""
    now = dt.datetime.now(dt.UTC)
    for offset in range(-12, 15):
        zone = f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # Etc/GMT-3 is UTC+3
        if now.astimezone(zoneinfo.ZoneInfo(zone)).hour in hours:
            return zone
    raise AssertionError("no zone found")


@pytest.fixture(autouse=True)
def _clean_limits():
    for key in redis_client().scan_iter("limit:*"):
        redis_client().delete(key)


def test_limits_windows_and_do_not_call_hold_with_real_workers(tenant, settings, tmp_path):
    open_zone, closed_zone = zone_at_local_hour(range(11, 17)), zone_at_local_hour(range(1, 6))
    campaign = CampaignFactory(
        tenant=tenant,
        window_start=dt.time(9),
        window_end=dt.time(20),
        max_concurrent_calls=2,
        calls_per_second=1,
        max_attempts=1,
    )
    # Last digit 7: the "no answer" persona, which rings for RING_TIMEOUT_SECONDS of real time.
    ringing = [ContactFactory(campaign=campaign, phone=f"+120255503{n}7", timezone=open_zone) for n in range(6)]
    asleep = [ContactFactory(campaign=campaign, phone=f"+120255504{n}7", timezone=closed_zone) for n in range(2)]
    with running_worker(
        settings, tmp_path / "worker.log", concurrency=4, SIMULATOR_REALTIME="true", RING_TIMEOUT_SECONDS=3
    ) as worker:
        start_campaign(campaign)
        DoNotCall.objects.create(tenant=tenant, phone=ringing[-1].phone, reason="added mid-campaign")
        dialled = CallAttempt.objects.filter(campaign=campaign, status=CallAttempt.Status.FINALIZED)
        wait_for_worker(lambda: dialled.count() == 5, worker, "five calls did not finish")
        time.sleep(2)  # a few more dispatcher ticks: nothing else may be dialled

    calls = list(CallAttempt.objects.filter(campaign=campaign).exclude(dialed_at=None).order_by("dialed_at"))
    assert sorted(c.contact_id for c in calls) == sorted(c.id for c in ringing[:-1])  # each once; DNC never
    assert Contact.objects.get(id=ringing[-1].id).status == Contact.Status.SKIPPED
    for contact in asleep:  # outside their window: waiting for 09:00 local, not dialled
        contact.refresh_from_db()
        assert contact.status == Contact.Status.PENDING and contact.attempts_made == 0
        assert contact.next_attempt_at.astimezone(zoneinfo.ZoneInfo(closed_zone)).time() == dt.time(9)
    # Concurrency from the call intervals: never above 2, and the limit was actually reached.
    events = sorted([(c.dialed_at, 1) for c in calls] + [(c.ended_at, -1) for c in calls])
    live, peak = 0, 0
    for _, step in events:
        live += step
        peak = max(peak, live)
    assert peak == 2, [(c.id, c.dialed_at.time(), c.ended_at.time(), c.worker, c.error) for c in calls]
    # Calls per second: dial starts at least ~1 s apart (stamps are taken just after the Redis check).
    gaps = [(b.dialed_at - a.dialed_at).total_seconds() for a, b in zip(calls, calls[1:], strict=False)]
    assert min(gaps) >= 0.9, gaps


def test_worker_killed_mid_call_no_double_dial_no_lost_contact(tenant, settings, tmp_path):
    campaign = CampaignFactory(
        tenant=tenant,
        window_start=dt.time(0),
        window_end=dt.time(23, 59, 59),
        max_attempts=2,
        retry_policy={"failed": 0},
    )
    contact = ContactFactory(campaign=campaign, phone="+12025550301")  # agrees, over ~12 s of real time
    env = {"SIMULATOR_REALTIME": "true", "CALL_LEASE_SECONDS": 3}
    first = start_worker(settings, tmp_path / "first.log", name="first", **env)
    try:
        start_campaign(campaign)
        attempt = CallAttempt.objects.filter(contact=contact)
        wait_for_worker(
            lambda: attempt.filter(status=CallAttempt.Status.DIALING, turns__isnull=False).exists(),
            first,
            "the call did not get going",
        )
    finally:
        first.kill()  # SIGKILL to the whole worker, mid-call
    [killed] = attempt.all()
    turns_at_kill = killed.turns.count()
    tasks.place_call.delay(killed.id)  # as the broker would redeliver the unacknowledged task

    with running_worker(settings, tmp_path / "second.log", name="second", **env) as second:
        wait_for_worker(
            lambda: Campaign.objects.get(id=campaign.id).status == Campaign.Status.COMPLETED,
            second,
            "the contact was not retried to completion",
            seconds=90,
        )

    killed.refresh_from_db()
    assert (killed.status, killed.end_reason, killed.disposition) == ("finalized", "worker_lost", "failed")
    assert killed.turns.count() == turns_at_kill  # the killed attempt was never dialled again
    retry = CallAttempt.objects.get(contact=contact, attempt_number=2)
    assert retry.disposition == "interested"
    assert retry.turns.filter(speaker="robot", index=0).count() == 1
    contact.refresh_from_db()
    assert (contact.status, contact.attempts_made) == (Contact.Status.DONE, 2)
    assert CallAttempt.objects.filter(contact=contact).count() == 2
