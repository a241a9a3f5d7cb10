"""Answering-machine detection (pipeline.amd) on real synthetic speech (piper, espeak-ng) through G.711, with and
without noise; the campaign script's "voicemail" setting; and the conversation's AMD hook on a line that plays a
fixed track from the moment of answer (as a callee's phone or voicemail box does)."""

from __future__ import annotations

import copy
import datetime as dt
import zoneinfo

import numpy as np
import pytest

from pipeline import amd
from pipeline.conversation import Conversation
from pipeline.script import DEFAULT_SCRIPT, ScriptError, validate_script
from telephony.audio import frames, pcm_to_array, rms_dbfs, through_g711
from telephony.interface import FRAME_BYTES, FRAME_MS, CallEnded, EndReason, Frame

RATE = 8000
NOW = dt.datetime(2025, 6, 11, 10, 15, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
MACHINE_GREETING = "Hi, you have reached Anna Smith. I can't take your call right now. Please leave a message."
VOICEMAIL_MESSAGE = "Hello {first_name}, this is Acme Clinic about your appointment tomorrow. Please call us back."


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def beep(hz: float = 1000, seconds: float = 0.5, dbfs: float = -12) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (10 ** (dbfs / 20) * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def with_noise(audio: np.ndarray, snr_db: float, seed: int = 1) -> np.ndarray:
    """White noise under the whole track at `snr_db` below the speech's active level."""
    x = audio.astype(np.float64)
    active = x[np.abs(x) > 300]
    level = np.sqrt(np.mean(active**2)) if active.size else 1000.0
    noise = np.random.default_rng(seed).normal(0, level / 10 ** (snr_db / 20), len(x))
    return np.clip(x + noise, -32768, 32767).astype(np.int16)


def line(audio: np.ndarray) -> np.ndarray:
    """What the robot receives: the audio through a PCMU leg."""
    return through_g711(audio)


def voices(piper, espeak):
    return [
        ("piper", lambda text: piper.synthesize(text)),
        ("espeak en-us", lambda text: espeak.synthesize(text, "en-us")),
        ("espeak en-gb+f3", lambda text: espeak.synthesize(text, "en-gb+f3")),
    ]


# -- the detector ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("greeting", ["Hello?", "Hi.", "Yes, hello?", "Hello, who is this?"])
def test_short_greetings_are_human(greeting, piper, espeak):
    for name, say in voices(piper, espeak):
        for snr in (None, 15):
            audio = np.concatenate([silence(0.4), say(greeting), silence(4)])
            audio = line(audio if snr is None else with_noise(audio, snr))
            verdict, confidence, beep_at = amd.classify(audio)
            assert (verdict, beep_at) == (amd.HUMAN, None), (name, snr, greeting, confidence)
            assert confidence >= 0.7, (name, snr, greeting, confidence)


def test_a_long_greeting_with_a_beep_is_a_machine_and_the_beep_is_placed(piper, espeak):
    for name, say in voices(piper, espeak):
        for hz in (440, 1000, 1400):
            for snr in (None, 15):
                spoken = say(MACHINE_GREETING)
                audio = np.concatenate([silence(0.3), spoken, silence(0.4), beep(hz), silence(2)])
                audio = line(audio if snr is None else with_noise(audio, snr))
                verdict, confidence, beep_at = amd.classify(audio)
                assert verdict == amd.MACHINE and confidence >= 0.8, (name, hz, snr, confidence)
                true_beep = int((0.7 + len(spoken) / RATE) * 1000)
                assert beep_at is not None and abs(beep_at - true_beep) <= 40, (name, hz, snr, beep_at, true_beep)


def test_the_machine_verdict_comes_from_the_greeting_length_before_any_beep(piper):
    detector = amd.Detector()
    audio = line(np.concatenate([silence(0.3), piper.synthesize(MACHINE_GREETING), silence(0.5), beep()]))
    for chunk in frames(audio):
        if detector.feed(pcm_to_array(chunk)) is not None:
            break
    verdict = detector.verdict
    assert (verdict.verdict, verdict.reason, verdict.beep_at_ms) == (amd.MACHINE, "long_greeting", None)
    assert 0.3 * 1000 + 1800 <= verdict.decided_at_ms <= 0.3 * 1000 + 2400, verdict


def test_long_speech_without_a_tone_never_reports_a_beep(piper, espeak):
    """Vowels and sung-out words are not a beep: several sentences, every voice, clean and noisy."""
    text = (
        "Good morning. Sooo, well, hmm, I was saying that the meeting is on Monday, and we will see you there. "
        "Mmmm, yes. Oooh, no, I do not know. Okay, bye bye."
    )
    for name, say in voices(piper, espeak):
        for snr in (None, 10):
            audio = say(text)
            audio = line(audio if snr is None else with_noise(audio, snr))
            detector = amd.Detector()
            for chunk in frames(audio):
                detector.feed(pcm_to_array(chunk))
            assert detector.beep_at_ms is None, (name, snr, detector.beep_at_ms, detector.beep_hz)


@pytest.mark.parametrize("hz", [400, 850, 1000, 2000, 2800])
def test_tones_of_120_ms_and_more_are_beeps_shorter_clicks_are_not(hz):
    noise = with_noise(np.concatenate([silence(1), beep(hz, 0.15, -20), silence(1)]), 20)
    assert amd.classify(line(noise))[2] in range(980, 1030)
    short = np.concatenate([silence(1), beep(hz, 0.06, -20), silence(1)])
    detector = amd.Detector()
    for chunk in frames(line(short)):
        detector.feed(pcm_to_array(chunk))
    assert detector.beep_at_ms is None


def test_silence_after_answer_is_a_person_waiting_with_low_confidence():
    detector = amd.Detector()
    for chunk in frames(silence(5)):
        if detector.feed(pcm_to_array(chunk)):
            break
    assert (detector.verdict.verdict, detector.verdict.reason, detector.verdict.confidence) == (
        amd.HUMAN,
        "initial_silence",
        0.5,
    )
    assert detector.verdict.decided_at_ms == 3000


def test_the_message_cue_is_the_end_of_the_beep_or_a_silence_after_a_greeting_without_one(piper):
    greeting = piper.synthesize(MACHINE_GREETING)
    for with_beep in (True, False):
        tail = [silence(0.5), beep(1000, 0.6)] if with_beep else []
        audio = line(np.concatenate([silence(0.3), greeting, *tail, silence(4)]))
        detector = amd.Detector()
        cue_at = None
        for chunk in frames(audio):
            detector.feed(pcm_to_array(chunk))
            if detector.verdict is not None and detector.message_cue():
                cue_at = detector.now_ms
                break
        greeting_end = int((0.3 + len(greeting) / RATE) * 1000)
        if with_beep:
            assert greeting_end + 1100 <= cue_at <= greeting_end + 1160, (cue_at, greeting_end)  # beep over
        else:
            # 1.5 s after the last word (piper's audio ends with a little silence of its own)
            assert greeting_end + 1100 <= cue_at <= greeting_end + 1700, (cue_at, greeting_end)


# -- the script setting ------------------------------------------------------------------------------------


def script_with(voicemail) -> dict:
    script = copy.deepcopy(DEFAULT_SCRIPT)
    script["voicemail"] = voicemail
    return script


def test_the_voicemail_setting_is_validated():
    validate_script(script_with({"action": "leave_message", "say": VOICEMAIL_MESSAGE}))
    validate_script(script_with({"action": "hang_up"}))
    bad = [
        ({"action": "record"}, '"voicemail" must be'),
        ("hang up", '"voicemail" must be'),
        ({"action": "leave_message"}, "needs the message"),
        ({"action": "leave_message", "say": "  "}, "needs the message"),
        ({"action": "leave_message", "say": 3}, "must be text"),
        ({"action": "leave_message", "say": "Hi {first name}"}, "bad placeholder"),
        ({"action": "hang_up", "beep": True}, "unknown setting 'beep'"),
    ]
    for voicemail, message in bad:
        with pytest.raises(ScriptError, match=message):
            validate_script(script_with(voicemail))


# -- the conversation hook on a line -----------------------------------------------------------------------


class TrackCall:
    """A real Call whose far end plays a fixed track from the moment of answer (then silence), through G.711,
    and keeps every robot frame, as baresip does; the far end hangs up when `hangup_after_ms` is reached."""

    call_id = "track-1"

    def __init__(self, track: np.ndarray, hangup_after_ms: int = 60_000) -> None:
        self.track = frames(line(track))
        self.sent: list[bytes] = []
        self.hangup_after_ms = hangup_after_ms
        self.ended: EndReason | None = None

    @property
    def elapsed_ms(self) -> int:
        return len(self.sent) * FRAME_MS

    def exchange(self, outgoing: bytes) -> Frame:
        if self.ended is not None:
            raise CallEnded(self.ended)
        if self.elapsed_ms >= self.hangup_after_ms:
            self.ended = EndReason.CALLEE_HANGUP
            raise CallEnded(self.ended)
        assert len(outgoing) == FRAME_BYTES
        index = len(self.sent)
        self.sent.append(outgoing)
        return Frame(self.track[index] if index < len(self.track) else b"\x00" * FRAME_BYTES)

    def hangup(self) -> None:
        self.ended = self.ended or EndReason.ROBOT_HANGUP

    def robot_speech_ms(self) -> list[int]:
        return [i * FRAME_MS for i, f in enumerate(self.sent) if rms_dbfs(f) > -45]


def converse(call, voicemail, piper, asr=None):
    script = validate_script(script_with(voicemail))
    conversation = Conversation(call, script, {"first_name": "Anna"}, piper.synthesize, asr, NOW)
    return conversation.run()


@pytest.mark.parametrize("hz", [1000, 1400])
def test_machine_gets_the_voicemail_message_after_the_beep(piper, hz):
    greeting = piper.synthesize(MACHINE_GREETING)
    beep_at = 300 + len(greeting) * 1000 // RATE + 500
    call = TrackCall(np.concatenate([silence(0.3), greeting, silence(0.5), beep(hz, 0.6), silence(30)]))
    result = converse(call, {"action": "leave_message", "say": VOICEMAIL_MESSAGE}, piper)
    assert (result.outcome, result.end_reason) == ("voicemail_left", EndReason.ROBOT_HANGUP)
    assert result.amd["verdict"] == amd.MACHINE and result.amd["beep_heard"] is True
    assert abs(result.amd["beep_at_ms"] - beep_at) <= 40
    spoke = call.robot_speech_ms()
    assert spoke and beep_at + 600 <= spoke[0] <= beep_at + 900, (spoke[0], beep_at)  # after the beep, promptly
    message = piper.synthesize(VOICEMAIL_MESSAGE.format(first_name="Anna"))
    assert spoke[-1] - spoke[0] > 0.8 * len(message) * 1000 / RATE  # the whole message was said, then the hangup
    machine_turn, robot_turn = result.turns
    assert (machine_turn.speaker, machine_turn.node) == ("callee", "voicemail")
    assert machine_turn.intent == "answering_machine"
    assert (robot_turn.speaker, robot_turn.text) == ("robot", VOICEMAIL_MESSAGE.format(first_name="Anna"))


def test_machine_is_hung_up_on_without_a_word(piper):
    greeting = piper.synthesize(MACHINE_GREETING)
    call = TrackCall(np.concatenate([silence(0.3), greeting, silence(0.5), beep(), silence(10)]))
    result = converse(call, {"action": "hang_up"}, piper)
    assert (result.outcome, result.end_reason) == ("answering_machine", EndReason.ROBOT_HANGUP)
    assert call.robot_speech_ms() == []
    assert call.elapsed_ms <= 300 + 1800 + 600  # decided from the greeting's length, not at its end


@pytest.mark.slow
def test_a_person_saying_hello_gets_the_script_after_their_greeting(piper):
    from pipeline.asr import WhisperASR

    hello = piper.synthesize("Hello?")
    prompt = piper.synthesize(DEFAULT_SCRIPT["nodes"]["ask_attend"]["say"].format(first_name="Anna"))
    answer_at = 0.3 + len(hello) / RATE + 0.8 + len(prompt) / RATE + 1.0
    track = np.concatenate(
        [silence(0.3), hello, silence(answer_at - 0.3 - len(hello) / RATE), piper.synthesize("Yes, I will be there.")]
    )
    call = TrackCall(np.concatenate([track, silence(20)]))
    result = converse(call, {"action": "leave_message", "say": VOICEMAIL_MESSAGE}, piper, WhisperASR())
    assert result.amd["verdict"] == amd.HUMAN and result.amd["reason"] == "short_greeting", result.amd
    assert result.outcome == "interested", [(t.speaker, t.text) for t in result.turns]
    hello_end = 300 + len(hello) * 1000 // RATE
    # spoke once the greeting was over (piper's audio ends with some silence of its own)
    assert hello_end + 400 <= call.robot_speech_ms()[0] <= hello_end + 1200, (call.robot_speech_ms()[0], hello_end)


def test_machine_that_hangs_up_before_the_message_is_not_voicemail_left(piper):
    greeting = piper.synthesize(MACHINE_GREETING)
    call = TrackCall(np.concatenate([silence(0.3), greeting]), hangup_after_ms=300 + len(greeting) * 1000 // RATE)
    result = converse(call, {"action": "leave_message", "say": VOICEMAIL_MESSAGE}, piper)
    assert (result.outcome, result.end_reason) == ("answering_machine", EndReason.CALLEE_HANGUP)
    assert result.amd["verdict"] == amd.MACHINE and call.robot_speech_ms() == []
