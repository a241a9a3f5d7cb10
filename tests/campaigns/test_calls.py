"""The dialler's rules, through the plain functions the Celery tasks wrap: dispatch, dial-time gates, exactly-once
dialling, retries and callbacks, lease recovery. Real PostgreSQL and Redis; calls go to the simulated carrier."""

import datetime as dt
import inspect

import pytest
from django.db import connection

from campaigns import queues, tasks
from campaigns.limits import client as redis_client
from campaigns.models import CallAttempt, Campaign, CampaignEvent, Contact, DoNotCall
from campaigns.services import calls
from campaigns.services.campaigns import NoCallingWindow, calling_window_opens
from campaigns.services.dispatch import dispatch_due, recover_abandoned
from campaigns.services.lifecycle import (
    CampaignStateError,
    cancel_campaign,
    pause_campaign,
    resume_campaign,
    schedule_campaign,
    start_campaign,
)
from project.celery import app
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db

NOON_NEW_YORK = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)  # 12:00 in New York
BUSY, NO_ANSWER = "+12025550106", "+12025550107"  # simulator personas (last digit)


@pytest.fixture(autouse=True)
def _clean_limits():
    for key in redis_client().scan_iter("limit:campaign:*"):
        redis_client().delete(key)


@pytest.fixture
def campaign(tenant):
    return CampaignFactory(tenant=tenant, status=Campaign.Status.RUNNING, retry_policy={"busy": 10})


@pytest.fixture
def daytime_campaign(campaign):
    """The product's default window (09:00-20:00 in the callee's zone); the factory opens all day."""
    campaign.window_start = Campaign._meta.get_field("window_start").default
    campaign.window_end = Campaign._meta.get_field("window_end").default
    campaign.save(update_fields=["window_start", "window_end"])
    return campaign


def dispatch(now=NOON_NEW_YORK) -> list[int]:
    return dispatch_due(now)


def test_dispatch_releases_due_contacts_as_numbered_attempts(campaign, django_capture_on_commit_callbacks):
    contacts = ContactFactory.create_batch(3, campaign=campaign)
    with django_capture_on_commit_callbacks() as callbacks:
        ids = dispatch()
    assert len(ids) == 3 and len(callbacks) >= 1  # dial tasks are enqueued only after commit
    assert set(CallAttempt.objects.filter(id__in=ids).values_list("contact_id", "attempt_number")) == {
        (c.id, 1) for c in contacts
    }
    assert dispatch() == []  # nothing due twice
    assert set(Contact.objects.values_list("status", flat=True)) == {Contact.Status.QUEUED}


def test_dispatch_keeps_a_bounded_backlog_per_channel(campaign):
    Campaign.objects.filter(id=campaign.id).update(max_concurrent_calls=2)
    ContactFactory.create_batch(10, campaign=campaign)
    assert len(dispatch()) == 4  # two per channel
    assert dispatch() == []


def test_dispatch_honours_do_not_call_including_the_global_list(campaign, outsider_tenant):
    own, global_, others = ContactFactory.create_batch(3, campaign=campaign)
    DoNotCall.objects.create(tenant=campaign.tenant, phone=own.phone)
    DoNotCall.objects.create(tenant=None, phone=global_.phone)
    DoNotCall.objects.create(tenant=outsider_tenant, phone=others.phone)  # another tenant's list: no effect
    ids = dispatch()
    assert CallAttempt.objects.get(id__in=ids).contact == others
    assert Contact.objects.get(id=own.id).status == Contact.Status.SKIPPED
    assert Contact.objects.get(id=global_.id).status == Contact.Status.SKIPPED


def test_dispatch_defers_contacts_outside_their_window_until_it_opens(daytime_campaign):
    tokyo = ContactFactory(campaign=daytime_campaign, timezone="Asia/Tokyo")  # 02:00 there
    assert dispatch() == []
    tokyo.refresh_from_db()
    assert tokyo.status == Contact.Status.PENDING
    assert tokyo.next_attempt_at == dt.datetime(2026, 11, 28, 0, 0, tzinfo=dt.UTC)  # 09:00 in Tokyo
    assert dispatch(dt.datetime(2026, 11, 27, 23, 59, tzinfo=dt.UTC)) == []
    assert len(dispatch(dt.datetime(2026, 11, 28, 0, 0, tzinfo=dt.UTC))) == 1


def test_do_not_call_added_after_dispatch_is_honoured_at_dial_time(campaign):
    contact = ContactFactory(campaign=campaign, phone=BUSY)
    [attempt_id] = dispatch()
    DoNotCall.objects.create(tenant=campaign.tenant, phone=contact.phone, reason="asked by email")
    assert calls.place_call(attempt_id, now=NOON_NEW_YORK) == "skipped"
    attempt = CallAttempt.objects.get(id=attempt_id)
    assert attempt.status == CallAttempt.Status.CANCELLED and attempt.dialed_at is None
    assert Contact.objects.get(id=contact.id).status == Contact.Status.SKIPPED


@pytest.mark.parametrize(("whose", "blocked"), [("tenant", True), ("global", True), ("other tenant", False)])
def test_do_not_call_added_while_the_channel_is_awaited_is_honoured_by_the_dial_start(
    campaign, outsider_tenant, monkeypatch, whose, blocked
):
    """The last check is in the statement that lets the phone ring (after the claim, engines and limits)."""
    contact = ContactFactory(campaign=campaign, phone=BUSY)
    [attempt_id] = dispatch()
    owner = {"tenant": campaign.tenant, "global": None, "other tenant": outsider_tenant}[whose]
    real_limits = calls.limits_for

    def limits_then_listed(of):  # the number is listed the moment the channel is being taken
        DoNotCall.objects.create(tenant=owner, phone=contact.phone, reason="asked by email")
        return real_limits(of)

    monkeypatch.setattr(calls, "limits_for", limits_then_listed)
    outcome = calls.place_call(attempt_id, now=NOON_NEW_YORK)
    attempt, contact = CallAttempt.objects.get(id=attempt_id), Contact.objects.get(id=contact.id)
    if blocked:
        assert outcome == "skipped" and attempt.status == CallAttempt.Status.CANCELLED
        assert attempt.dialed_at is None and contact.attempts_made == 0 and contact.status == Contact.Status.SKIPPED
        assert attempt.error == contact.skip_reason == "on the do-not-call list"
    else:  # another tenant's list does not stop this tenant's call
        assert outcome == "ended" and attempt.dialed_at is not None and attempt.dial_status == "busy"
        assert contact.attempts_made == 1


@pytest.mark.parametrize(
    ("zone", "utc_hour", "opens_utc"),
    [
        ("America/New_York", 3, dt.datetime(2026, 11, 27, 14, 0, tzinfo=dt.UTC)),  # 22:00 the night before
        ("Asia/Tokyo", 17, dt.datetime(2026, 11, 28, 0, 0, tzinfo=dt.UTC)),  # 02:00 in Tokyo
    ],
)
def test_outside_the_window_at_dial_time_nothing_is_dialled(daytime_campaign, zone, utc_hour, opens_utc):
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=daytime_campaign, phone=BUSY, timezone=zone))
    assert calls.place_call(attempt.id, now=dt.datetime(2026, 11, 27, utc_hour, 0, tzinfo=dt.UTC)) == "skipped"
    attempt.refresh_from_db()
    assert attempt.status == CallAttempt.Status.CANCELLED and attempt.dialed_at is None
    contact = Contact.objects.get(id=attempt.contact_id)
    assert (contact.status, contact.next_attempt_at, contact.attempts_made) == (Contact.Status.PENDING, opens_utc, 0)


def test_window_is_local_to_the_callee_and_the_most_restrictive_zone_wins(tenant):
    campaign = CampaignFactory(tenant=tenant, window_start=dt.time(9), window_end=dt.time(20))
    assert calling_window_opens(campaign, ["Europe/Paris"], NOON_NEW_YORK) is None  # 18:00 in Paris
    assert calling_window_opens(campaign, ["Asia/Tokyo"], NOON_NEW_YORK) is not None  # 02:00 in Tokyo
    zones = ["America/New_York", "America/Los_Angeles"]
    assert calling_window_opens(campaign, zones, NOON_NEW_YORK) is None  # 09:00 in Los Angeles
    ten_ny = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)  # 07:00 in Los Angeles: wait for 09:00 there
    assert calling_window_opens(campaign, zones, ten_ny) == dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)
    office_hours = CampaignFactory(tenant=tenant, window_start=dt.time(9), window_end=dt.time(17))
    with pytest.raises(NoCallingWindow, match="never open in all of"):  # 14-22 UTC vs 00-08 UTC
        calling_window_opens(office_hours, ["America/New_York", "Asia/Tokyo"], NOON_NEW_YORK)


def test_paused_campaign_dials_nobody_and_keeps_the_contact_waiting(campaign):
    contact = ContactFactory(campaign=campaign, phone=BUSY)
    [attempt_id] = dispatch()
    pause_campaign(campaign)
    assert calls.place_call(attempt_id, now=NOON_NEW_YORK) == "skipped"
    assert CallAttempt.objects.get(id=attempt_id).dialed_at is None
    assert Contact.objects.get(id=contact.id).status == Contact.Status.PENDING
    assert dispatch() == []  # paused: nothing released
    resume_campaign(campaign)
    [again] = dispatch()
    assert CallAttempt.objects.get(id=again).attempt_number == 2  # a new row; the cancelled one stays as it was


def test_an_attempt_is_dialled_once_finalised_once_and_retried_per_policy(campaign):
    contact = ContactFactory(campaign=campaign, phone=BUSY)
    [attempt_id] = dispatch()
    assert calls.place_call(attempt_id, now=NOON_NEW_YORK) == "ended"
    assert calls.place_call(attempt_id, now=NOON_NEW_YORK) == "ended"  # redelivered task: no second dial
    dialed_at = CallAttempt.objects.get(id=attempt_id).dialed_at
    assert calls.finalize_call(attempt_id, now=NOON_NEW_YORK) is True
    assert calls.finalize_call(attempt_id, now=NOON_NEW_YORK) is False
    assert calls.place_call(attempt_id, now=NOON_NEW_YORK) == "not-claimed"
    attempt = CallAttempt.objects.get(id=attempt_id)
    assert (attempt.disposition, attempt.sip_code, attempt.dialed_at) == ("busy", 486, dialed_at)
    contact.refresh_from_db()
    assert contact.attempts_made == 1 and contact.status == Contact.Status.PENDING
    assert contact.next_attempt_at == NOON_NEW_YORK + dt.timedelta(minutes=10)  # retry_policy busy: 10 min
    assert dispatch() == []  # not due yet
    [second] = dispatch(NOON_NEW_YORK + dt.timedelta(minutes=10))
    assert CallAttempt.objects.get(id=second).attempt_number == 2


def test_max_attempts_ends_the_retries_and_completes_the_campaign(campaign):
    Campaign.objects.filter(id=campaign.id).update(max_attempts=2, retry_policy={"no_answer": 0}, calls_per_second=50)
    contact = ContactFactory(campaign=campaign, phone=NO_ANSWER)
    for number in (1, 2):
        [attempt_id] = dispatch()
        assert CallAttempt.objects.get(id=attempt_id).attempt_number == number
        calls.place_call(attempt_id, now=NOON_NEW_YORK)
        calls.finalize_call(attempt_id, now=NOON_NEW_YORK)
    assert dispatch() == []
    contact.refresh_from_db()
    assert (contact.status, contact.attempts_made) == (Contact.Status.DONE, 2)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert list(CampaignEvent.objects.filter(campaign=campaign).values_list("to_status", flat=True)) == ["completed"]


def test_callback_is_scheduled_at_the_time_the_callee_asked(campaign):
    contact = ContactFactory(campaign=campaign)
    attempt = CallAttemptFactory(
        contact=contact,
        status=CallAttempt.Status.ENDED,
        dial_status="answered",
        outcome="callback_requested",
        analysis={"slots": {"callback_at": "2026-11-28T14:00:00-05:00"}},
    )
    Contact.objects.filter(id=contact.id).update(attempts_made=1, status=Contact.Status.QUEUED)
    assert calls.finalize_call(attempt.id, now=NOON_NEW_YORK)
    contact.refresh_from_db()
    assert contact.status == Contact.Status.PENDING
    assert contact.next_attempt_at == dt.datetime(2026, 11, 28, 19, 0, tzinfo=dt.UTC)


def test_channel_limit_holds_across_hosts_in_redis(campaign):
    Campaign.objects.filter(id=campaign.id).update(max_concurrent_calls=1, calls_per_second=10)
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=campaign, phone=BUSY))
    campaign.refresh_from_db()
    limits, limiter = calls.limits_for(campaign), calls.ChannelLimiter(lease_seconds=30)
    assert limiter.acquire(limits, "call-on-another-host") is None  # holds the only channel
    assert calls.place_call(attempt.id, now=NOON_NEW_YORK) == calls.THROTTLED
    attempt.refresh_from_db()
    assert attempt.status == CallAttempt.Status.QUEUED and attempt.dialed_at is None  # back in the queue, untouched
    limiter.release(limits, "call-on-another-host")
    assert calls.place_call(attempt.id, now=NOON_NEW_YORK) == "ended"


def test_calls_per_second_limit_holds(campaign):
    Campaign.objects.filter(id=campaign.id).update(max_concurrent_calls=5, calls_per_second=1)
    first, second = (CallAttemptFactory(contact=ContactFactory(campaign=campaign, phone=p)) for p in (BUSY, NO_ANSWER))
    assert calls.place_call(first.id, now=NOON_NEW_YORK) == "ended"
    assert calls.place_call(second.id, now=NOON_NEW_YORK) == calls.THROTTLED  # second dial within the same second
    assert calls.Limit("x", 1, 0.5).dial_window == (1, 2000)
    assert calls.Limit("x", 1, 2.5).dial_window == (2, 1000)


def test_a_dead_workers_attempt_is_recovered_after_its_lease_and_never_redialled(campaign):
    campaign.retry_policy = {"failed": 0}
    campaign.save()
    contact = ContactFactory(campaign=campaign)
    attempt = CallAttemptFactory(
        contact=contact,
        status=CallAttempt.Status.DIALING,
        dial_status="answered",
        lease_expires_at=NOON_NEW_YORK - dt.timedelta(seconds=1),
    )
    Contact.objects.filter(id=contact.id).update(attempts_made=1, status=Contact.Status.QUEUED)
    assert calls.place_call(attempt.id) == "not-claimed"  # the redelivered task cannot take it over
    assert recover_abandoned(NOON_NEW_YORK - dt.timedelta(seconds=5)) == []  # lease still valid then
    assert recover_abandoned(NOON_NEW_YORK) == [attempt.id]
    assert calls.finalize_call(attempt.id, now=NOON_NEW_YORK)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.end_reason, attempt.disposition) == ("finalized", "worker_lost", "failed")
    [retry] = dispatch()
    assert CallAttempt.objects.get(id=retry).attempt_number == 2


def test_lifecycle_transitions_are_idempotent_and_recorded(tenant, manager):
    campaign = CampaignFactory(tenant=tenant)
    assert schedule_campaign(campaign, NOON_NEW_YORK, actor=manager) is True
    assert schedule_campaign(campaign, NOON_NEW_YORK, actor=manager) is False
    dispatch_due(NOON_NEW_YORK - dt.timedelta(minutes=1))
    assert Campaign.objects.get(id=campaign.id).status == Campaign.Status.SCHEDULED
    dispatch_due(NOON_NEW_YORK)  # the scheduler starts it
    assert pause_campaign(campaign, actor=manager) is True
    assert pause_campaign(campaign, actor=manager) is False
    resume_campaign(campaign, actor=manager)
    assert cancel_campaign(campaign, actor=manager) == 0
    with pytest.raises(CampaignStateError, match="is cancelled"):
        start_campaign(campaign, actor=manager)
    events = list(CampaignEvent.objects.filter(campaign=campaign).values_list("from_status", "to_status", "actor"))
    assert events == [
        ("draft", "scheduled", manager.id),
        ("scheduled", "running", None),
        ("running", "paused", manager.id),
        ("paused", "running", manager.id),
        ("running", "cancelled", manager.id),
    ]


def test_every_task_is_routed_to_its_queue():
    def queue_of(name):
        return app.amqp.router.route({}, name)["queue"].name

    assert queue_of(tasks.place_call.name) == "dial"
    assert queue_of(tasks.analyze_call.name) == "post_call"
    assert queue_of(tasks.finalize_call.name) == "default"  # bookkeeping never waits behind analyses
    assert queue_of(tasks.deliver_webhook.name) == "webhooks"
    assert queue_of(tasks.dispatch.name) == queue_of(tasks.recover_abandoned.name) == "default"
    assert queue_of(tasks.presynthesize_prompts.name) == "tts"
    ours = {name for name in app.tasks if name.startswith("campaigns.")}
    assert ours == set(queues.TASKS)
    assert {queues.TASKS[name] for name in ours} == set(queues.ALL) == {q.name for q in app.conf.task_queues}
    for name in ours:
        task = app.tasks[name]
        assert queue_of(name) == queues.TASKS[name]
        assert task.acks_late and task.time_limit and task.soft_time_limit < task.time_limit


def test_names_of_the_previous_release_still_run_on_the_same_queue():
    """Messages queued before the dialler moved to campaigns/ carry pipeline.tasks.* names: still consumed."""
    for legacy, current in queues.LEGACY_NAMES.items():
        old, new = app.tasks[legacy], app.tasks[current]
        assert inspect.unwrap(type(old).__dict__["run"]) is inspect.unwrap(type(new).__dict__["run"])
        assert app.amqp.router.route({}, legacy)["queue"].name == queues.TASKS[current]
    assert app.amqp.router.route({}, "pipeline.tasks.place_call")["queue"].name == "dial"


@pytest.mark.django_db(transaction=True)  # real commits: the finalize's lazy flush must not outlive it
def test_the_dial_task_finalizes_its_own_call_once(campaign):
    """No finalize message per call: the dial task finalizes inline (a second finalize, the sweeper's, is a no-op).
    A call without a recording is finalized without waiting for the WAL flush, in that transaction only."""
    contact = ContactFactory(campaign=campaign, phone=BUSY)
    [attempt_id] = dispatch()
    app.control.purge()
    assert tasks.place_call(attempt_id) == "ended"
    attempt, contact = CallAttempt.objects.get(id=attempt_id), Contact.objects.get(id=contact.id)
    assert attempt.status == CallAttempt.Status.FINALIZED and attempt.disposition == "busy"
    assert contact.status == Contact.Status.PENDING and contact.attempts_made == 1  # retried per the busy policy
    assert redis_client().llen("default") == 0  # no finalize message waits for this call
    assert tasks.finalize_call(attempt_id) is False
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
