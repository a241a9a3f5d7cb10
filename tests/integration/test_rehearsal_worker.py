"""`manage.py rehearse` against a real Celery worker: the calls go over Redis to the dial queue and run in the
worker's process (same task machinery, engines and script as live calls), while a webhook receiver listens for
anything a rehearsal must never send."""

import io

import pytest
from django.core.management import call_command

from campaigns.models import CallAttempt, Campaign, Rehearsal
from tests.campaigns.test_rehearsals import PLANTED
from tests.factories import CampaignFactory, ContactFactory
from tests.support.workers import WebhookReceiver, running_worker

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
