"""Post-call analysis: whole-recording transcript of the callee channel, call figures, the answer sheet (what
the callee answered at each question) and a sentiment score (pipeline.sentiment), stored in the attempt's
`analysis` JSON."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np
from django.conf import settings
from pydub import AudioSegment

from campaigns import engines, recordings
from campaigns.models import CallAttempt, Turn
from pipeline import sentiment

log = logging.getLogger(__name__)

SPEECH_LEVEL = 300  # |sample| above this counts as someone talking (about -40 dBFS)


def analyze_call(attempt_id: int) -> dict:
    """Idempotent: recomputes and overwrites the attempt's full transcript and figures."""
    attempt = CallAttempt.objects.select_related("campaign").filter(id=attempt_id).first()
    if attempt is None or not attempt.recording:
        return {}
    stereo, rate = read_recording(Path(settings.MEDIA_ROOT) / attempt.recording)
    robot, callee = stereo[:, 0], stereo[:, 1]
    transcript = engines.asr_engine(attempt.campaign.language).transcribe(callee)
    turns = list(attempt.turns.all())
    confidences = [t.confidence for t in turns if t.confidence is not None]
    latencies = sorted(t.response_latency_ms for t in turns if t.response_latency_ms is not None)
    per_ms = rate / 1000
    analysis = {
        **attempt.analysis,
        "duration_ms": int(len(robot) / per_ms),
        "robot_talk_ms": int(np.count_nonzero(np.abs(robot) > SPEECH_LEVEL) / per_ms),
        "callee_talk_ms": int(np.count_nonzero(np.abs(callee) > SPEECH_LEVEL) / per_ms),
        "callee_turns": sum(1 for t in turns if t.speaker == Turn.Speaker.CALLEE),
        "mean_asr_confidence": round(sum(confidences) / len(confidences), 3) if confidences else None,
        "max_response_latency_ms": latencies[-1] if latencies else None,
        "answer_sheet": answer_sheet(turns),
        "barge_ins": sum(1 for t in turns if t.speaker == Turn.Speaker.ROBOT and "interrupted_after_ms" in t.slots),
        "sentiment": sentiment.call_sentiment(
            [t.text for t in turns if t.speaker == Turn.Speaker.CALLEE and not t.text.startswith("[keypad")]
            or [transcript.text]
        ),
    }
    CallAttempt.objects.filter(id=attempt_id).update(full_transcript=transcript.text, analysis=analysis)
    recordings.store_format(attempt)
    return analysis


def answer_sheet(turns: list[Turn]) -> dict:
    """Per question node (in call order): the question, the last answer given, its intent and captured slots.

    `attempts` counts answers heard at that node (a re-ask makes two); an answer not understood has intent
    `unknown`. Nodes the call never reached are absent.
    """
    sheet: dict[str, dict] = {}
    question = {}
    for turn in turns:
        if turn.speaker == Turn.Speaker.ROBOT:
            question[turn.node] = turn.text
            continue
        entry = sheet.setdefault(turn.node, {"question": question.get(turn.node, ""), "attempts": 0})
        entry.update(
            answer=turn.text,
            intent=turn.intent,
            confidence=turn.confidence,
            slots=turn.slots,
            attempts=entry["attempts"] + 1,
        )
    return sheet


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """A stored recording as (frames x channels int16, sample rate): WAV directly, MP3/OGG through ffmpeg."""
    if path.suffix.lower() == ".wav":
        with wave.open(str(path), "rb") as w:
            stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
            return stereo, w.getframerate()
    segment = AudioSegment.from_file(path).set_sample_width(2)
    samples = np.array(segment.get_array_of_samples(), dtype=np.int16).reshape(-1, segment.channels)
    return samples, segment.frame_rate
