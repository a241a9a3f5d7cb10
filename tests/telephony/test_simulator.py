"""The simulated carrier's call detail records: every dial, answered or not, leaves a start and an end line."""

import json

import numpy as np
import pytest

from telephony.interface import SILENCE_FRAME, DialStatus
from telephony.simulator import SimulatedCarrier


def quiet_voice(text: str) -> np.ndarray:
    return np.zeros(800, np.int16)


def test_every_dial_leaves_a_start_and_an_end_record(tmp_path):
    cdr = tmp_path / "cdr.jsonl"
    carrier = SimulatedCarrier(quiet_voice, cdr_path=cdr)
    assert carrier.dial("+12025550106", "", 30).status is DialStatus.BUSY
    answered = carrier.dial("+12025550101", "", 30)
    assert answered.status is DialStatus.ANSWERED
    answered.call.exchange(SILENCE_FRAME)
    lines = [json.loads(line) for line in cdr.read_text().splitlines()]
    assert [(r["event"], r["number"]) for r in lines] == [
        ("start", "+12025550106"),
        ("end", "+12025550106"),
        ("start", "+12025550101"),
    ]
    answered.call.hangup()
    answered.call.hangup()  # idempotent: one end record
    lines = [json.loads(line) for line in cdr.read_text().splitlines()]
    assert [r["event"] for r in lines] == ["start", "end", "start", "end"]
    assert lines[2]["call"] == lines[3]["call"] != lines[0]["call"]
    assert lines[3]["t"] >= lines[2]["t"]


def test_without_a_cdr_path_nothing_is_written(tmp_path):
    carrier = SimulatedCarrier(quiet_voice)
    carrier.dial("+12025550106", "", 30)
    assert list(tmp_path.iterdir()) == []


# --- the rehearsal persona library ---------------------------------------------------------------------


from telephony.audio import rms_dbfs  # noqa: E402
from telephony.interface import CallEnded, EndReason  # noqa: E402
from telephony.simulator import LIBRARY, PERSONAS, persona_for, rehearsal_number  # noqa: E402


class RecordingVoice:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> np.ndarray:
        self.lines.append(text)
        t = np.arange(1600) / 8000
        return (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)


LOUD = (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16).tobytes()


def robot_says_then_waits(call, speech_frames=25, silence_frames=150) -> list[bytes]:
    heard = [call.exchange(LOUD).pcm for _ in range(speech_frames)]
    return heard + [call.exchange(SILENCE_FRAME).pcm for _ in range(silence_frames)]


def test_rehearsal_numbers_name_a_library_persona_and_digits_still_work():
    assert persona_for(rehearsal_number("slow", 7)) is LIBRARY["slow"]
    assert persona_for("+12025550101") is PERSONAS["1"]
    with pytest.raises(KeyError, match="unknown persona 'grumpy'"):
        rehearsal_number("grumpy", 1)


def test_the_wording_is_picked_by_the_seed_reproducibly_and_varies_across_calls():
    carrier = SimulatedCarrier(quiet_voice)
    picked = {s: carrier.dial(rehearsal_number("agree", s), "", 30).call.lines for s in range(20)}
    assert picked == {s: carrier.dial(rehearsal_number("agree", s), "", 30).call.lines for s in range(20)}
    assert len(set(picked.values())) >= 3
    assert set(picked.values()) <= set(LIBRARY["agree"].phrasings)


def test_an_answering_machine_talks_at_once_and_beeps_or_not():
    for name, beeps in (("voicemail", True), ("voicemail_no_beep", False)):
        voice = RecordingVoice()
        call = SimulatedCarrier(voice).dial(rehearsal_number(name, 1), "", 30).call
        heard = [call.exchange(SILENCE_FRAME).pcm for _ in range(150)]
        assert voice.lines == list(LIBRARY[name].greeting)
        assert rms_dbfs(heard[0]) > -30  # no waiting for the robot
        tonal = [np.abs(np.fft.rfft(np.frombuffer(p, np.int16))).argmax() for p in heard if rms_dbfs(p) > -30]
        assert (tonal.count(20) > 10) is beeps  # 1 kHz in 20 ms frames: bin 20


def test_a_caller_who_hangs_up_mid_prompt_ends_the_call():
    call = SimulatedCarrier(quiet_voice).dial(rehearsal_number("hang_up", 1), "", 30).call
    with pytest.raises(CallEnded) as ended:
        for _ in range(200):
            call.exchange(LOUD)
    assert ended.value.reason is EndReason.CALLEE_HANGUP
    assert call.heard_robot_ms == LIBRARY["hang_up"].hangs_up_after_robot_ms


def test_a_noisy_line_is_never_silent_and_a_slow_talker_waits_and_pauses():
    noisy = SimulatedCarrier(quiet_voice).dial(rehearsal_number("noisy", 1), "", 30).call
    assert -48 < rms_dbfs(noisy.exchange(SILENCE_FRAME).pcm) < -30
    voice = RecordingVoice()
    slow = SimulatedCarrier(voice).dial(rehearsal_number("slow", 2), "", 30).call
    heard = robot_says_then_waits(slow, silence_frames=400)
    first = next(i for i, p in enumerate(heard) if rms_dbfs(p) > -40)
    assert (first - 25) * 20 >= LIBRARY["slow"].reply_after_ms - 20
    assert voice.lines == [part.strip() for part in slow.lines[0].split(",")]  # spoken in parts, with pauses


def test_simulated_transfer_rings_for_three_seconds_then_follows_the_targets_persona():
    from telephony.interface import CallEnded, TransferStatus
    from telephony.simulator import TRANSFER_RING_MS

    carrier = SimulatedCarrier(quiet_voice)
    for target, status, code in [
        ("+12025550106", TransferStatus.BUSY, 486),
        ("+12025550107", TransferStatus.NO_ANSWER, 487),
        ("+12025550100", TransferStatus.FAILED, 404),
        ("sip:desk@pbx.example.com", TransferStatus.CONNECTED, 200),
    ]:
        call = carrier.dial("+12025550101", "", 30).call
        transfer = call.transfer(target, 45)
        frames = 0
        while transfer.result() is None:
            call.exchange(SILENCE_FRAME)
            frames += 1
        assert frames * 20 == TRANSFER_RING_MS
        assert (transfer.result().status, transfer.result().sip_code) == (status, code)
        if status is TransferStatus.CONNECTED:  # the callee is with the person now, off the robot's line
            with pytest.raises(CallEnded):
                call.exchange(SILENCE_FRAME)
        else:
            call.exchange(SILENCE_FRAME)  # still the robot's call
        call.hangup()
