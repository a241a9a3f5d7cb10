"""Post-call analysis on a real call: a conversation over the simulator, stored, then analysed with whisper."""

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

from campaigns.models import CallAttempt
from campaigns.services.analysis import analyze_call
from campaigns.services.calls import save_turn
from pipeline import sentiment
from pipeline.conversation import Conversation
from pipeline.script import DEFAULT_SCRIPT
from pipeline.tts import PiperTTS
from telephony.simulator import SimulatedCarrier
from tests.factories import CallAttemptFactory

NOW = dt.datetime(2025, 6, 11, 10, 15, tzinfo=zoneinfo.ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thank you so much, that's really kind, I'll be there.", "positive"),
        ("This is ridiculous, you people are terrible and annoying.", "negative"),
        ("No, I can't make it.", "neutral"),  # a polite decline is not anger
        ("Yes.", "neutral"),
        ("Okay, sure.", "neutral"),
        ("You have the wrong number.", "neutral"),
        ("Stop calling me.", "neutral"),
        ("Stop calling me, this is harassment, I hate these calls.", "negative"),
        ("", "neutral"),
    ],
)
def test_sentiment_of_phone_answers(text, expected):
    assert sentiment.label(sentiment.score(text)) == expected, sentiment.score(text)


def test_call_sentiment_weights_longer_answers():
    result = sentiment.call_sentiment(["Yes.", "This is awful, I am really angry about this terrible service."])
    assert result["label"] == "negative" and result["lowest"] == result["utterances"][1] < -0.5
    assert result["score"] < result["utterances"][1] / 2
    assert result["method"].startswith("vader")
    assert sentiment.call_sentiment([])["score"] == 0.0


@pytest.mark.slow
@pytest.mark.django_db
def test_analysis_stores_answer_sheet_and_sentiment(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    attempt = CallAttemptFactory()
    piper = PiperTTS()
    from campaigns import engines

    call = SimulatedCarrier(piper.synthesize).dial("+12025550209", "+12025550100", 30).call  # repeat, then yes
    stored = []
    result = Conversation(
        call, DEFAULT_SCRIPT, {"first_name": "Anna"}, piper.synthesize, engines.asr_engine("en"), NOW, stored.append
    ).run()
    for index, turn in enumerate(stored):
        save_turn(attempt, index, turn)
    relative = f"tenant_{attempt.tenant_id}/rec.wav"
    result.recorder.write_wav(Path(tmp_path) / relative)
    CallAttempt.objects.filter(id=attempt.id).update(recording=relative, analysis={"slots": result.slots})

    analysis = analyze_call(attempt.id)
    attempt.refresh_from_db()
    assert attempt.analysis == analysis and analysis["slots"] == result.slots
    sheet = analysis["answer_sheet"]
    assert list(sheet) == ["ask_attend"]
    answer = sheet["ask_attend"]
    assert answer["attempts"] == 2 and answer["intent"] == "affirm"  # asked to repeat, then agreed
    assert "works for me" in answer["answer"].lower()
    assert answer["question"].startswith("Hello Anna")
    assert analysis["sentiment"]["label"] in ("neutral", "positive")
    assert len(analysis["sentiment"]["utterances"]) == 2
    assert analysis["barge_ins"] == 0
    assert "works for me" in attempt.full_transcript.lower()
