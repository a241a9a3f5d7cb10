"""Dial-time gates and idempotency of the call lifecycle (no Celery needed: the tasks wrap these functions)."""

import datetime as dt

import pytest

from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall
from campaigns.services.campaigns import (
    CampaignStateError,
    NoCallingWindow,
    calling_window_opens,
    start_campaign,
)
from pipeline import calls, tasks
from project.celery import QUEUES, app
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db

NOON_NEW_YORK = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)  # 12:00 in New York


@pytest.fixture
def running_attempt(tenant):
    campaign = CampaignFactory(tenant=tenant, status=Campaign.Status.RUNNING)
    contact = ContactFactory(campaign=campaign, phone="+12025550106", timezone="America/New_York")  # busy persona
    return CallAttemptFactory(contact=contact)


def test_do_not_call_added_after_start_is_honoured_at_dial_time(running_attempt):
    DoNotCall.objects.create(tenant=running_attempt.tenant, phone=running_attempt.contact.phone)
    assert calls.place_call(running_attempt.id, now=NOON_NEW_YORK) == "skipped"
    running_attempt.refresh_from_db()
    assert running_attempt.status == CallAttempt.Status.CANCELLED and running_attempt.dial_status == ""
    assert Contact.objects.get(id=running_attempt.contact_id).status == Contact.Status.SKIPPED


def test_another_tenants_do_not_call_entry_does_not_block(running_attempt, outsider_tenant):
    DoNotCall.objects.create(tenant=outsider_tenant, phone=running_attempt.contact.phone)
    assert calls.place_call(running_attempt.id, now=NOON_NEW_YORK) == "ended"
    running_attempt.refresh_from_db()
    assert (running_attempt.dial_status, running_attempt.sip_code) == ("busy", 486)


@pytest.mark.parametrize(
    ("zone", "utc_hour", "opens_utc"),
    [
        ("America/New_York", 3, dt.datetime(2026, 11, 27, 14, 0, tzinfo=dt.UTC)),  # 22:00 the night before
        ("Asia/Tokyo", 17, dt.datetime(2026, 11, 28, 0, 0, tzinfo=dt.UTC)),  # 02:00 in Tokyo
    ],
)
def test_outside_the_window_the_call_is_deferred_not_dialled(running_attempt, zone, utc_hour, opens_utc):
    Contact.objects.filter(id=running_attempt.contact_id).update(timezone=zone)
    now = dt.datetime(2026, 11, 27, utc_hour, 0, tzinfo=dt.UTC)
    assert calls.place_call(running_attempt.id, now=now) == f"deferred:{opens_utc.isoformat()}"
    running_attempt.refresh_from_db()
    assert running_attempt.status == CallAttempt.Status.QUEUED
    assert running_attempt.not_before == opens_utc and running_attempt.dial_status == ""


def test_window_is_local_to_the_callee(tenant):
    campaign = CampaignFactory(tenant=tenant, window_start=dt.time(9), window_end=dt.time(20))
    assert calling_window_opens(campaign, ["America/New_York"], NOON_NEW_YORK) is None
    assert calling_window_opens(campaign, ["Europe/Paris"], NOON_NEW_YORK) is None  # 18:00 in Paris
    assert calling_window_opens(campaign, ["Asia/Tokyo"], NOON_NEW_YORK) is not None  # 02:00 in Tokyo


def test_paused_campaign_dials_nobody(running_attempt):
    Campaign.objects.filter(id=running_attempt.campaign_id).update(status=Campaign.Status.PAUSED)
    assert calls.place_call(running_attempt.id, now=NOON_NEW_YORK) == "skipped"
    running_attempt.refresh_from_db()
    assert running_attempt.status == CallAttempt.Status.QUEUED and running_attempt.dial_status == ""


def test_an_attempt_is_dialled_once_and_finalised_once(running_attempt):
    assert calls.place_call(running_attempt.id, now=NOON_NEW_YORK) == "ended"
    assert calls.place_call(running_attempt.id, now=NOON_NEW_YORK) == "ended"  # redelivery: no second dial
    running_attempt.refresh_from_db()
    claimed_at = running_attempt.claimed_at
    assert calls.finalize_call(running_attempt.id) is True
    assert calls.finalize_call(running_attempt.id) is False
    assert calls.place_call(running_attempt.id, now=NOON_NEW_YORK) == "not-claimed"
    running_attempt.refresh_from_db()
    assert running_attempt.disposition == "busy" and running_attempt.claimed_at == claimed_at
    assert Campaign.objects.get(id=running_attempt.campaign_id).status == Campaign.Status.COMPLETED


def test_start_campaign_queues_each_contact_once_and_skips_dnc(tenant, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(tenant=tenant)
    ContactFactory.create_batch(3, campaign=campaign)
    blocked = ContactFactory(campaign=campaign)
    DoNotCall.objects.create(tenant=tenant, phone=blocked.phone)
    with django_capture_on_commit_callbacks() as callbacks:
        assert start_campaign(campaign) == 3
    assert len(callbacks) == 1  # enqueued only after commit
    assert Contact.objects.get(id=blocked.id).status == Contact.Status.SKIPPED
    with pytest.raises(CampaignStateError, match="only a draft or paused campaign can start"):
        start_campaign(campaign)
    assert CallAttempt.objects.filter(campaign=campaign).count() == 3


def test_every_task_is_routed_to_its_queue():
    def queue_of(task):
        return app.amqp.router.route({}, task.name)["queue"].name

    assert queue_of(tasks.place_call) == "dial"
    assert queue_of(tasks.finalize_call) == queue_of(tasks.analyze_call) == "post_call"
    ours = {name for name in app.tasks if name.startswith("pipeline.")}
    assert ours == set(QUEUES)
    for name in ours:
        task = app.tasks[name]
        assert task.acks_late and task.time_limit and task.soft_time_limit < task.time_limit


def test_a_number_spanning_zones_is_called_only_inside_the_window_everywhere(tenant):
    campaign = CampaignFactory(tenant=tenant, window_start=dt.time(9), window_end=dt.time(20))
    zones = ["America/New_York", "America/Los_Angeles"]
    # 12:00 in New York is 09:00 in Los Angeles: open in both.
    assert calling_window_opens(campaign, zones, NOON_NEW_YORK) is None
    # 10:00 in New York is 07:00 in Los Angeles: wait until 09:00 in Los Angeles (17:00 UTC).
    ten_ny = dt.datetime(2026, 11, 27, 15, 0, tzinfo=dt.UTC)
    assert calling_window_opens(campaign, zones, ten_ny) == dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)
    office_hours = CampaignFactory(tenant=tenant, window_start=dt.time(9), window_end=dt.time(17))
    with pytest.raises(NoCallingWindow, match="never open in all of"):  # 14-22 UTC vs 00-08 UTC
        calling_window_opens(office_hours, ["America/New_York", "Asia/Tokyo"], NOON_NEW_YORK)
