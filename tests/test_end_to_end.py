"""A small campaign through a real Celery worker process on Redis and PostgreSQL, with real TTS and ASR.

Virtual callees (telephony.simulator) speak with piper; the robot hears them through G.711 and whisper.
"""

import datetime as dt
import time
from difflib import SequenceMatcher
from pathlib import Path

import pytest
from django.db import connection

from campaigns.models import CallAttempt, Campaign, DoNotCall
from campaigns.services.campaigns import start_campaign
from campaigns.services.imports import import_contacts
from pipeline import calls
from pipeline.nlp import normalise
from project.celery import app
from project.devservers import Worker
from telephony.simulator import persona_for
from tests.factories import CampaignFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PERSONA_DIGITS = "1234567890"  # every persona once


def database_url() -> str:
    db = connection.settings_dict
    host = db["HOST"] or db.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={host}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(settings, tmp_path):
    app.control.purge()  # nothing left over from an earlier run may reach this worker
    worker = Worker(
        {"DATABASE_URL": database_url(), "MEDIA_ROOT": str(settings.MEDIA_ROOT), "CONN_MAX_AGE": "0"},
        tmp_path / "worker.log",
        concurrency=2,
        name="e2e",
    )
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
        connection.close()


def similar(heard: str, said: str) -> float:
    return SequenceMatcher(None, normalise(heard), normalise(said)).ratio()


def test_campaign_runs_through_real_worker(tenant, manager, worker, settings):
    campaign = CampaignFactory(tenant=tenant, window_start=dt.time(0, 0), window_end=dt.time(23, 59, 59))
    rows = "\n".join(f"+1202555020{d},Caller{d}" for d in PERSONA_DIGITS)
    report = import_contacts(campaign, f"phone,first_name\n{rows}\n".encode(), "e2e.csv", manager)
    assert report.created == len(PERSONA_DIGITS) and not report.rejected

    start_campaign(campaign)
    attempts = CallAttempt.objects.filter(campaign=campaign).select_related("contact")
    deadline = time.monotonic() + 300
    # Done when the campaign completed and every recorded call went through post-call analysis.
    while campaign.status != Campaign.Status.COMPLETED or attempts.exclude(recording="").exclude(
        analysis__has_key="duration_ms"
    ):
        assert time.monotonic() < deadline, f"campaign did not complete; worker log:\n{worker.log_tail()}"
        assert worker.alive(), worker.log_tail()
        time.sleep(0.5)
        campaign.refresh_from_db()

    assert attempts.count() == len(PERSONA_DIGITS)
    for attempt in attempts:
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
    callback = attempts.get(disposition="callback_requested")
    assert callback.analysis["slots"]["callback_at"].startswith(
        str(dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1))[:8]
    )

    # Running the dial task again for a finished attempt dials nobody and stores nothing new.
    answered = attempts.get(contact__phone="+12025550201")
    turns_before = answered.turns.count()
    assert calls.place_call(answered.id) == "not-claimed"
    assert answered.turns.count() == turns_before
