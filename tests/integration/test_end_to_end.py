"""A small campaign through a real Celery worker process on Redis and PostgreSQL, with real TTS and ASR.

Virtual callees (telephony.simulator) speak with piper; the robot hears them through G.711 and whisper.
"""

import datetime as dt
import time
from difflib import SequenceMatcher
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall
from campaigns.services import calls
from campaigns.services.imports import import_contacts
from campaigns.services.lifecycle import start_campaign
from campaigns.services.webhooks import sign
from pipeline.nlp import normalise
from telephony.simulator import persona_for
from tests.factories import CampaignFactory
from tests.support.waiting import wait_for_worker
from tests.support.workers import WebhookReceiver, running_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PERSONA_DIGITS = "1234567890"  # every persona once


@pytest.fixture
def worker(settings, tmp_path):
    with running_worker(settings, tmp_path / "worker.log", name="e2e") as worker:
        yield worker


@pytest.fixture
def receiver():
    with WebhookReceiver(fail_first=1) as receiver:  # the first delivery meets a 503 and is retried
        yield receiver


def similar(heard: str, said: str) -> float:
    return SequenceMatcher(None, normalise(heard), normalise(said)).ratio()


def test_campaign_runs_through_real_worker(tenant, manager, worker, settings, receiver):
    campaign = CampaignFactory(
        tenant=tenant,
        window_start=dt.time(0, 0),
        window_end=dt.time(23, 59, 59),
        max_attempts=1,
        calls_per_second=5,
        webhook_url=receiver.url,
    )
    rows = "\n".join(f"+1202555020{d},Caller{d}" for d in PERSONA_DIGITS)
    report = import_contacts(campaign, f"phone,first_name\n{rows}\n".encode(), "e2e.csv", manager)
    assert report.created == len(PERSONA_DIGITS) and not report.rejected

    start_campaign(campaign, actor=manager)
    attempts = CallAttempt.objects.filter(campaign=campaign).select_related("contact")

    # Every contact called once, and every recorded call through post-call analysis.
    wait_for_worker(
        lambda: (
            attempts.filter(status=CallAttempt.Status.FINALIZED).count() == len(PERSONA_DIGITS)
            and not attempts.exclude(recording="").exclude(analysis__has_key="duration_ms").exists()
        ),
        worker,
        "first round of calls did not finish",
        240,
    )
    assert attempts.count() == len(PERSONA_DIGITS)
    for attempt in attempts.filter(attempt_number=1):
        persona = persona_for(attempt.contact.phone)
        assert attempt.status == CallAttempt.Status.FINALIZED
        assert attempt.disposition == persona.expected_disposition, (persona.name, list(attempt.turns.values()))
        callee_turns = [t.text for t in attempt.turns.filter(speaker="callee")]
        # Each line the persona said is in the stored transcript, as heard by the robot's ASR.
        assert len(callee_turns) == len(persona.lines), (persona.name, callee_turns)
        for heard, said in zip(callee_turns, persona.lines, strict=True):
            assert similar(heard, said) > 0.8, (heard, said)
        if persona.lines:
            assert attempt.recording.startswith(f"tenant_{tenant.id}/")
            assert (Path(settings.MEDIA_ROOT) / attempt.recording).is_file()
            assert similar(attempt.full_transcript, " ".join(persona.lines)) > 0.8, attempt.full_transcript
            robot_turns = attempt.turns.filter(speaker="robot")
            assert robot_turns.first().text.startswith(f"Hello {attempt.contact.first_name},")
        if persona.dial_status != "answered":
            assert attempt.sip_code == persona.sip_code and not attempt.turns.exists()

    opted_out = attempts.get(disposition="opted_out").contact.phone
    assert DoNotCall.objects.for_tenant(tenant).filter(phone=opted_out).exists()
    # The callback is scheduled at the time asked for ("tomorrow afternoon" = 14:00 in New York), so the campaign
    # waits for it; move the clock there and the dispatcher calls back (a second callback request ends it).
    callback = attempts.get(disposition="callback_requested").contact
    callback.refresh_from_db()
    tomorrow = dt.datetime.now(ZoneInfo("America/New_York")).date() + dt.timedelta(days=1)
    assert callback.next_attempt_at == dt.datetime.combine(tomorrow, dt.time(14), ZoneInfo("America/New_York"))
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    Contact.objects.filter(id=callback.id).update(next_attempt_at=dt.datetime.now(dt.UTC))
    wait_for_worker(
        lambda: Campaign.objects.get(id=campaign.id).status == Campaign.Status.COMPLETED, worker, "no callback", 240
    )
    assert list(callback.attempts.values_list("attempt_number", "disposition")) == [
        (1, "callback_requested"),
        (2, "callback_requested"),
    ]

    # Running the dial task again for a finished attempt dials nobody and stores nothing new.
    answered = attempts.get(contact__phone="+12025550201")
    turns_before = answered.turns.count()
    assert calls.place_call(answered.id) == "not-claimed"
    assert answered.turns.count() == turns_before

    # Webhooks: one per call plus the campaign's, HMAC-signed with the campaign's secret, after a retried 503.
    campaign.refresh_from_db()
    deadline = time.monotonic() + 30
    while len(receiver.requests) < len(PERSONA_DIGITS) + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(receiver.events("call.completed")) == len(PERSONA_DIGITS) + 1
    [done] = receiver.events("campaign.completed")
    assert sum(done["json"]["dispositions"].values()) == len(PERSONA_DIGITS) + 1
    for request in receiver.requests:
        timestamp = int(request["headers"]["X-Robocall-Signature"].split(",")[0].removeprefix("t="))
        assert request["headers"]["X-Robocall-Signature"] == sign(campaign.webhook_secret, request["body"], timestamp)
    agreed = next(
        r["json"] for r in receiver.events("call.completed") if r["json"]["call"]["contact"]["phone"] == "+12025550201"
    )
    assert agreed["call"]["disposition"] == "interested" and agreed["call"]["transcript"][1]["intent"] == "affirm"
