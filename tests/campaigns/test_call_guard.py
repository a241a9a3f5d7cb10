"""A live call against faults of PostgreSQL and Redis, each cause as the fault-injection campaign found it:
a lease keeper that died on a database error, a healthy call declared lost, final writes that overwrote a
finalized row, a person rung while another call to them was live, a limiter that forgot a live call after a
Redis restart, engines built after the callee answered, and a blocked database write freezing the line.

Faults are real: backends killed with pg_terminate_backend, rows locked by another connection, Redis keys
lost as a restart loses them, Redis unreachable on a closed port.
"""

import datetime as dt
import threading
import time

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone

from campaigns.limits import ChannelLimiter, Limit
from campaigns.limits import client as redis_client
from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.services import call_guard, calls
from campaigns.services.dispatch import find_stranded, recover_abandoned
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory

NOON_NEW_YORK = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clean_redis():
    for pattern in ("limit:*", f"{call_guard.HEARTBEAT_PREFIX}*"):
        for key in redis_client().scan_iter(pattern):
            redis_client().delete(key)


@pytest.fixture
def campaign(tenant):
    return CampaignFactory(tenant=tenant, status=Campaign.Status.RUNNING)


def dialing(campaign, token="host:1:abc", lease_seconds=30, **fields) -> CallAttempt:
    return CallAttemptFactory(
        campaign=campaign,
        contact=ContactFactory(campaign=campaign),
        status=CallAttempt.Status.DIALING,
        worker=token,
        lease_expires_at=timezone.now() + dt.timedelta(seconds=lease_seconds),
        **fields,
    )


def other_connection():
    db = connection.settings_dict
    conn = psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432)
    conn.autocommit = True
    return conn


def keeper_for(attempt, token, on_lost=lambda: None):
    limiter = ChannelLimiter(lease_seconds=30)
    limits = [Limit(f"campaign:{attempt.campaign_id}", 5, 100)]
    return call_guard.LeaseKeeper(attempt.id, token, limiter, limits, f"attempt:{attempt.id}", on_lost)


# -- the lease keeper ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_keeper_survives_a_killed_database_connection_and_renews_next_time(campaign):
    attempt = dialing(campaign, lease_seconds=5)
    keeper = keeper_for(attempt, "host:1:abc")
    keeper.renew_once()  # opens the connection this thread renews with
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    with other_connection() as killer, killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [backend])  # that one connection, nobody else's
    keeper.renew_once()  # the database error is logged, not raised: the keeper lives on
    assert not keeper.lost.is_set()
    before = CallAttempt.objects.get(id=attempt.id).lease_expires_at
    keeper.renew_once()
    assert CallAttempt.objects.get(id=attempt.id).lease_expires_at > before
    assert redis_client().get(call_guard.heartbeat_key(attempt.id)) == b"host:1:abc"


@pytest.mark.django_db
def test_keeper_hangs_up_once_the_attempt_is_truly_taken(campaign):
    attempt = dialing(campaign)
    hung_up = []
    keeper = keeper_for(attempt, "host:1:abc", on_lost=lambda: hung_up.append(True))
    keeper.renew_once()
    assert not hung_up
    CallAttempt.objects.filter(id=attempt.id).update(status=CallAttempt.Status.ENDED, end_reason="worker_lost")
    keeper.renew_once()
    assert keeper.lost.is_set() and hung_up == [True]


@pytest.mark.django_db
def test_final_write_never_overwrites_an_attempt_that_recovery_ended(campaign):
    attempt = dialing(campaign)
    CallAttempt.objects.filter(id=attempt.id).update(
        status=CallAttempt.Status.FINALIZED, end_reason="worker_lost", disposition="failed"
    )
    assert calls._finish(attempt, "host:1:abc", outcome="interested", end_reason="hangup") is False
    attempt.refresh_from_db()
    assert (attempt.status, attempt.end_reason, attempt.outcome) == ("finalized", "worker_lost", "")


@pytest.mark.django_db
def test_final_write_needs_this_workers_token(campaign):
    attempt = dialing(campaign, token="host:1:abc")
    assert calls._finish(attempt, "host:2:def", outcome="interested") is False
    assert calls._finish(attempt, "host:1:abc", outcome="interested") is True
    attempt.refresh_from_db()
    assert (attempt.status, attempt.outcome) == ("ended", "interested")


# -- recovery asks whether the worker is alive ------------------------------------------------------------


@pytest.mark.django_db
def test_recovery_spares_a_call_whose_worker_still_beats_in_redis(campaign):
    attempt = dialing(campaign, lease_seconds=-5)  # its database lease lapsed (the database was paused)
    call_guard.beat(attempt.id, attempt.worker)
    assert recover_abandoned() == []
    attempt.refresh_from_db()
    assert attempt.status == CallAttempt.Status.DIALING and attempt.lease_expires_at > timezone.now()


@pytest.mark.django_db
def test_recovery_ends_a_call_whose_lease_and_heartbeat_both_lapsed(campaign):
    attempt = dialing(campaign, lease_seconds=-5)
    assert recover_abandoned() == [attempt.id]
    attempt.refresh_from_db()
    assert (attempt.status, attempt.end_reason) == ("ended", "worker_lost")


@pytest.mark.django_db
def test_recovery_declares_nobody_lost_while_redis_cannot_say(campaign, settings):
    attempt = dialing(campaign, lease_seconds=-5)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there: connection refused
    redis_client.cache_clear()
    try:
        assert recover_abandoned() == []
    finally:
        redis_client.cache_clear()
    assert CallAttempt.objects.get(id=attempt.id).status == CallAttempt.Status.DIALING


# -- the dial-time gates ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_person_is_not_rung_while_another_call_to_them_is_live(campaign):
    live = dialing(campaign)
    retry = CallAttemptFactory(campaign=campaign, contact=live.contact, attempt_number=2)
    assert calls.place_call(retry.id, now=NOON_NEW_YORK) == calls.THROTTLED
    retry.refresh_from_db()
    assert retry.status == CallAttempt.Status.QUEUED and retry.dialed_at is None and retry.worker == ""
    assert retry.queued_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "says"),
    [
        ("zh-CN", "English-only"),  # a language pack, but whisper is English-only and no vosk model is set
        ("ko", "No language pack for 'ko'"),
    ],
)
def test_engines_are_checked_before_anyone_is_rung(campaign, language, says):
    Campaign.objects.filter(id=campaign.id).update(language=language)
    attempt = CallAttemptFactory(campaign=campaign, contact=ContactFactory(campaign=campaign))
    assert calls.place_call(attempt.id, now=NOON_NEW_YORK) == "ended"
    attempt.refresh_from_db()
    assert attempt.status == CallAttempt.Status.ENDED and attempt.dialed_at is None
    assert attempt.error.startswith("not dialled:") and says in attempt.error
    assert Contact.objects.get(id=attempt.contact_id).attempts_made == 0


# -- limits after Redis lost its state -------------------------------------------------------------------


@pytest.mark.django_db
def test_limiter_rebuilds_live_calls_after_redis_forgot_them(campaign):
    Campaign.objects.filter(id=campaign.id).update(max_concurrent_calls=1)
    campaign.refresh_from_db()
    live = dialing(campaign, dialed_at=timezone.now())
    waiting = dialing(campaign)  # claimed, not yet given a channel: holds none
    limiter = ChannelLimiter(lease_seconds=30)
    limits = calls.limits_for(campaign)
    # Redis restarted: every limit key is gone, while `live` still talks to someone.
    assert limiter.acquire(limits, "attempt:new", live_calls=calls.live_calls_by_limit) is not None
    assert redis_client().zscore(f"limit:campaign:{campaign.id}:live", f"attempt:{live.id}") is not None
    assert redis_client().zscore(f"limit:campaign:{campaign.id}:live", f"attempt:{waiting.id}") is None


@pytest.mark.django_db
def test_a_renewal_puts_back_a_call_that_redis_forgot(campaign):
    limiter = ChannelLimiter(lease_seconds=30)
    limits = [Limit(f"campaign:{campaign.id}", 1, 100)]
    assert limiter.acquire(limits, "attempt:1") is None
    redis_client().delete(f"limit:campaign:{campaign.id}:live")  # lost with a restart
    limiter.renew(limits, "attempt:1")
    assert limiter.acquire(limits, "attempt:2") == f"campaign:{campaign.id}: all channels busy"


# -- lost messages ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweeper_finds_work_whose_message_was_lost(campaign, settings):
    settings.QUEUED_RESEND_SECONDS = 60
    old = timezone.now() - dt.timedelta(minutes=5)
    lost_dial = CallAttemptFactory(campaign=campaign, contact=ContactFactory(campaign=campaign), queued_at=old)
    fresh_dial = CallAttemptFactory(campaign=campaign, contact=ContactFactory(campaign=campaign))
    CallAttempt.objects.filter(id=fresh_dial.id).update(queued_at=timezone.now())
    lost_chain = CallAttemptFactory(
        campaign=campaign, contact=ContactFactory(campaign=campaign), status="ended", ended_at=old
    )
    unanalysed = CallAttemptFactory(
        campaign=campaign,
        contact=ContactFactory(campaign=campaign),
        status="finalized",
        ended_at=timezone.now() - dt.timedelta(hours=1),
        recording="tenant_1/recordings/x.wav",
    )
    for key in redis_client().scan_iter("robocall:resent:*"):
        redis_client().delete(key)
    stranded = find_stranded()
    assert stranded.queued == [lost_dial.id] and stranded.ended == [lost_chain.id]
    assert stranded.unanalysed == [unanalysed.id] and fresh_dial.id not in stranded.queued
    again = find_stranded()  # sent again just now: not again before another period
    assert again.queued == again.ended == again.unanalysed == []


# -- a slow database never freezes the line ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_locked_row_does_not_block_the_call_and_the_write_lands_afterwards(campaign):
    attempt = dialing(campaign)
    writer = call_guard.TurnWriter(lambda write: write(), name="turns-test")
    writer.start()
    locker = other_connection()
    locker.autocommit = False
    with locker.cursor() as cursor:
        cursor.execute("SELECT id FROM campaigns_callattempt WHERE id = %s FOR UPDATE", [attempt.id])
    started = time.monotonic()
    for n in range(50):  # 50 turns, as a call would report them, while the row stays locked
        writer.put(lambda n=n: CallAttempt.objects.filter(id=attempt.id).update(talk_ms=n))
    assert time.monotonic() - started < 0.05  # the caller never waited on the database
    time.sleep(0.3)
    assert writer.is_alive()
    threading.Timer(0.2, locker.rollback).start()
    assert writer.close(timeout=10)
    locker.close()
    assert CallAttempt.objects.get(id=attempt.id).talk_ms == 49 and writer.failed == []
