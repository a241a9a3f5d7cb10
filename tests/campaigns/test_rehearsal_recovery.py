"""A rehearsal whose worker died is failed by recovery (the beat's `campaigns.recover_abandoned`, every third of
CALL_LEASE_SECONDS) or by the sweeper, not left running until someone starts the next one. Real PostgreSQL and
Redis; the worker's death is its lease and heartbeat lapsing (tests/integration/test_rehearsal_worker.py kills a
real one)."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import tasks
from campaigns.limits import ChannelLimiter
from campaigns.limits import client as redis_client
from campaigns.models import Rehearsal, RehearsalCall
from campaigns.services import call_guard, rehearsal_calls
from campaigns.services.rehearsals import fail_stalled, recover_lost_calls, start_rehearsal
from tests.campaigns.test_rehearsals import PLANTED
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_redis():
    for prefix in (call_guard.HEARTBEAT_PREFIX, call_guard.REHEARSAL_HEARTBEAT_PREFIX):
        for key in redis_client().scan_iter(f"{prefix}*"):
            redis_client().delete(key)


@pytest.fixture
def rehearsal(tenant, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(tenant=tenant, script=PLANTED)
    with django_capture_on_commit_callbacks(execute=False):  # no message sent: the test plays the worker
        return start_rehearsal(campaign, 3, {"agree": 50, "decline": 50}, seed=1)


def running_call(rehearsal, lease_seconds: float, token: str = "host:1:abc") -> RehearsalCall:
    """The first call, claimed by a worker whose lease ends `lease_seconds` from now (negative: lapsed)."""
    call = rehearsal.rehearsal_calls.get(index=0)
    RehearsalCall.objects.filter(id=call.id).update(
        status=RehearsalCall.Status.DIALING,
        worker=token,
        started_at=timezone.now(),
        lease_expires_at=timezone.now() + dt.timedelta(seconds=lease_seconds),
    )
    call.refresh_from_db()
    return call


def test_recovery_fails_the_rehearsal_of_a_call_whose_worker_died_and_the_next_one_can_start(
    rehearsal, settings, manager, django_capture_on_commit_callbacks
):
    call = running_call(rehearsal, lease_seconds=-5)
    assert tasks.recover_abandoned() == 1  # the beat's task: live attempts and rehearsal calls alike

    rehearsal.refresh_from_db()
    assert rehearsal.status == Rehearsal.Status.FAILED and rehearsal.finished_at
    assert rehearsal.error == (
        f"worker lost: the worker running call 0 ({call.persona}) stopped mid-call and its lease expired "
        f"(CALL_LEASE_SECONDS={settings.CALL_LEASE_SECONDS}); the report would miss that call. "
        "Start the rehearsal again."
    )
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.lease_expires_at) == ("ended", "worker_lost", None)
    # Its calls still queued are never run: the claim needs a running rehearsal (no engine is even loaded).
    queued = rehearsal.rehearsal_calls.exclude(id=call.id)
    assert [rehearsal_calls.place_rehearsal_call(c.id) for c in queued] == ["not-claimed", "not-claimed"]
    assert set(queued.values_list("status", flat=True)) == {"queued"}
    assert recover_lost_calls() == []  # once

    # The report page says why, and stops reloading itself.
    client = Client()
    client.force_login(manager)
    page = client.get(f"/campaigns/{rehearsal.campaign_id}/rehearsals/{rehearsal.id}/").content.decode()
    assert "worker lost: the worker running call 0" in page and "no report: the rehearsal failed" in page
    assert "data-reload-after" not in page

    with django_capture_on_commit_callbacks(execute=False):
        again = start_rehearsal(rehearsal.campaign, 1, {"agree": 100})
    assert again.status == Rehearsal.Status.RUNNING
    page = client.get(f"/campaigns/{rehearsal.campaign_id}/rehearsals/{again.id}/").content.decode()
    assert "data-reload-after" in page  # running: the page reloads until the report is there


def test_recovery_spares_a_call_whose_worker_still_beats_in_redis(rehearsal):
    call = running_call(rehearsal, lease_seconds=-5)  # its database lease lapsed (the database was paused)
    call_guard.beat(call.id, call.worker, call_guard.REHEARSAL_HEARTBEAT_PREFIX)
    assert recover_lost_calls() == []
    call.refresh_from_db()
    assert call.status == RehearsalCall.Status.DIALING and call.lease_expires_at > timezone.now()
    assert Rehearsal.objects.get(id=rehearsal.id).status == Rehearsal.Status.RUNNING


def test_a_live_attempts_heartbeat_does_not_keep_a_rehearsal_call_of_the_same_id_alive(rehearsal):
    call = running_call(rehearsal, lease_seconds=-5)
    call_guard.beat(call.id, "host:2:live")  # a live CallAttempt that happens to have the same id
    assert recover_lost_calls() == [rehearsal.id]


def test_recovery_declares_nobody_lost_while_redis_cannot_say(rehearsal, settings):
    call = running_call(rehearsal, lease_seconds=-5)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: connection refused
    redis_client.cache_clear()
    try:
        assert recover_lost_calls() == []
    finally:
        redis_client.cache_clear()
    assert RehearsalCall.objects.get(id=call.id).status == RehearsalCall.Status.DIALING


def test_a_call_with_a_live_lease_is_left_alone(rehearsal):
    running_call(rehearsal, lease_seconds=30)
    assert recover_lost_calls() == []
    assert Rehearsal.objects.get(id=rehearsal.id).status == Rehearsal.Status.RUNNING


def test_the_lease_keeper_of_a_recovered_call_hangs_it_up(rehearsal):
    call = running_call(rehearsal, lease_seconds=30)
    hung_up = []
    keeper = call_guard.LeaseKeeper(
        call.id,
        call.worker,
        ChannelLimiter(lease_seconds=30),
        [],
        f"rehearsal-call:{call.id}",
        on_lost=lambda: hung_up.append(call.id),
        model=RehearsalCall,
        prefix=call_guard.REHEARSAL_HEARTBEAT_PREFIX,
    )
    keeper.renew_once()  # ours: lease renewed, heartbeat under the rehearsal prefix
    assert call_guard.alive_in_redis([call.id], call_guard.REHEARSAL_HEARTBEAT_PREFIX) == {call.id: True}
    assert call_guard.alive_in_redis([call.id]) == {call.id: False}
    assert not keeper.lost.is_set()
    RehearsalCall.objects.filter(id=call.id).update(status=RehearsalCall.Status.ENDED, end_reason="worker_lost")
    keeper.renew_once()
    assert keeper.lost.is_set() and hung_up == [call.id]


def test_the_sweeper_fails_a_rehearsal_whose_calls_stopped_finishing(rehearsal, settings):
    stalled_since = timezone.now() - dt.timedelta(seconds=3 * settings.CALL_MAX_SECONDS + 1)
    assert fail_stalled() == 0  # progress within three call lengths
    Rehearsal.objects.filter(id=rehearsal.id).update(updated_at=stalled_since)
    assert tasks.sweep()["stalled_rehearsals"] == 1
    rehearsal.refresh_from_db()
    assert rehearsal.status == Rehearsal.Status.FAILED
    assert rehearsal.error.startswith(f"abandoned: no call finished for {3 * settings.CALL_MAX_SECONDS} s")
