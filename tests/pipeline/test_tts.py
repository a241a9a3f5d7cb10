"""TTS engines for real: espeak-ng as the last fallback, per-campaign voices, pre-synthesis and cache figures."""

import time
from difflib import SequenceMatcher

import numpy as np
import pytest

from pipeline.nlp import normalise
from pipeline.tts import EspeakTTS, GoogleTTS, PiperTTS, PromptCache, Speaker, TTSError, build_engines, parse_voices
from telephony.audio import through_g711
from telephony.interface import SAMPLE_RATE

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _fresh_engine_health(monkeypatch):
    from pipeline import tts

    monkeypatch.setattr(tts, "_down_until", {})  # each test starts with no engine marked as failing


def test_espeak_speaks_line_ready_audio_that_whisper_understands(espeak, whisper):
    said = "Yes, I will be there on Friday."
    audio = espeak.synthesize(said, "en-us")
    assert audio.dtype == np.int16 and 1.0 < len(audio) / SAMPLE_RATE < 4.0
    assert np.abs(audio).max() > 3000
    heard = whisper.transcribe(through_g711(audio)).text
    assert SequenceMatcher(None, normalise(heard), normalise(said)).ratio() > 0.85, heard


def test_espeak_voices_differ_and_bad_voices_are_clear_errors(espeak):
    male = espeak.synthesize("Good morning.", "en-us")
    female = espeak.synthesize("Good morning.", "en-us+f3")
    assert not np.array_equal(male, female)
    with pytest.raises(TTSError, match="voice does not exist"):
        espeak.synthesize("hello", "xx-nonexistent")
    with pytest.raises(TTSError, match="not a voice name"):
        espeak.synthesize("hello", "--stdout")
    # Text is passed on stdin, so a prompt that looks like an option is spoken, not obeyed.
    assert np.abs(espeak.synthesize("-v is a flag", "en")).max() > 1000


def test_missing_espeak_binary_is_a_clear_error():
    with pytest.raises(TTSError, match="not installed"):
        EspeakTTS(binary="/nonexistent/espeak-ng").synthesize("hello")


def test_engine_chains_end_with_the_offline_engines():
    assert [e.name for e in build_engines("gtts")] == ["gtts", "piper", "espeak"]
    assert [e.name for e in build_engines("piper")] == ["piper", "espeak"]
    assert [e.name for e in build_engines("espeak")] == ["espeak"]
    with pytest.raises(TTSError, match="Unknown TTS engine 'nope'"):
        build_engines("nope")


def test_parse_voices():
    assert parse_voices("", "piper") == {}
    assert parse_voices("joe", "piper") == {"piper": "joe"}
    assert parse_voices("gtts=co.uk, espeak=en-gb+f3", "gtts") == {"gtts": "co.uk", "espeak": "en-gb+f3"}
    with pytest.raises(TTSError, match="engine=voice"):
        parse_voices("festival=kal", "piper")


def test_piper_failure_falls_back_to_espeak_never_silence(tmp_path, caplog):
    # A piper voice that is not installed is a real piper failure; espeak-ng still speaks the prompt.
    speaker = Speaker([PiperTTS(), EspeakTTS()], PromptCache(tmp_path), voices={"piper": "/nonexistent/v.onnx"})
    audio = speaker("Your appointment is confirmed.")
    assert np.abs(audio).max() > 1000
    assert speaker.fallbacks == 1 and "falling back" in caplog.text
    assert list((tmp_path / "espeak").rglob("*.wav"))


def test_failed_engine_is_skipped_for_a_while_then_tried_again(tmp_path, monkeypatch):
    from pipeline import tts

    gtts = GoogleTTS(tld="invalid", timeout=5)  # ".invalid" never resolves: a real offline failure
    speaker = Speaker([gtts, EspeakTTS()], PromptCache(tmp_path))
    speaker("First prompt.")
    started = time.monotonic()
    speaker("Second prompt.")
    assert speaker.fallbacks == 1, "gTTS is not asked again right after failing"
    assert time.monotonic() - started < 2
    monkeypatch.setitem(tts._down_until, "gtts", time.monotonic() - 1)  # the retry delay has passed
    speaker("Third prompt.")
    assert speaker.fallbacks == 2


def test_gtts_voice_is_checked_before_any_request():
    with pytest.raises(TTSError, match="not a Google domain"):
        GoogleTTS().synthesize("hello", voice="evil.example/")
