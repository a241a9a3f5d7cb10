"""Telephone audio (G.711, framing, recorder, levels) and the simulated carrier's mechanics."""

import warnings
import wave

import numpy as np
import pytest

from telephony.audio import (
    CallRecorder,
    frames,
    pcm_to_array,
    read_wav_mono,
    rms_dbfs,
    through_g711,
    to_line_audio,
    ulaw_decode,
    ulaw_encode,
)
from telephony.interface import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, SILENCE_FRAME, CallEnded, DialStatus, EndReason
from telephony.simulator import (
    GIVE_UP_SILENCE_MS,
    PERSONAS,
    REPLY_AFTER_MS,
    SimulatedCall,
    SimulatedCarrier,
    persona_for,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 coder (stdlib until Python 3.13)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


def tone(seconds: float, amplitude: int = 8000, freq: float = 440.0, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


# --- G.711 ----------------------------------------------------------------------------------------------


def test_ulaw_encode_matches_reference_for_every_int16():
    reference = np.frombuffer(audioop.lin2ulaw(ALL_INT16.astype("<i2").tobytes(), 2), dtype=np.uint8)
    encoded = ulaw_encode(ALL_INT16)
    assert encoded.dtype == np.uint8
    mismatches = np.flatnonzero(encoded != reference)
    assert mismatches.size == 0, f"first mismatches at samples {ALL_INT16[mismatches[:5]]}"


def test_ulaw_decode_matches_reference_for_every_code():
    codes = np.arange(256, dtype=np.uint8)
    reference = np.frombuffer(audioop.ulaw2lin(codes.tobytes(), 2), dtype="<i2")
    decoded = ulaw_decode(codes)
    assert decoded.dtype == np.int16
    np.testing.assert_array_equal(decoded, reference)


def test_through_g711_matches_reference_round_trip():
    raw = ALL_INT16.astype("<i2").tobytes()
    reference = np.frombuffer(audioop.ulaw2lin(audioop.lin2ulaw(raw, 2), 2), dtype="<i2")
    np.testing.assert_array_equal(through_g711(ALL_INT16), reference)


def test_g711_round_trip_error_is_logarithmic():
    x = ALL_INT16.astype(np.int32)
    error = np.abs(through_g711(ALL_INT16).astype(np.int32) - x)
    in_range = np.abs(x) <= 32124  # mu-law clips above this
    assert (error[in_range] <= np.maximum(16, np.abs(x[in_range]) / 16)).all()  # fine near zero, coarse when loud
    assert error.max() <= 1024
    assert ulaw_encode(np.zeros(3, dtype=np.int16)).tolist() == [0xFF] * 3


# --- framing and levels ---------------------------------------------------------------------------------


def test_frames_split_into_20ms_and_pad_the_last():
    pcm = np.arange(1, FRAME_SAMPLES + 2, dtype=np.int16)  # 161 samples
    out = frames(pcm)
    assert FRAME_BYTES == 320
    assert [len(f) for f in out] == [320, 320]
    np.testing.assert_array_equal(pcm_to_array(out[0]), pcm[:FRAME_SAMPLES])
    last = pcm_to_array(out[1])
    assert last[0] == FRAME_SAMPLES + 1
    assert not last[1:].any()
    assert out[0][:4] == b"\x01\x00\x02\x00"  # little-endian int16


def test_frames_exact_multiple_and_empty():
    pcm = tone(0.1)
    out = frames(pcm)
    assert len(out) == 5
    assert b"".join(out) == pcm.astype("<i2").tobytes()
    assert frames(np.zeros(0, dtype=np.int16)) == []


def test_rms_dbfs_silence_vs_tone():
    assert rms_dbfs(SILENCE_FRAME) < -100
    assert rms_dbfs(b"") == -120.0
    sine = frames(tone(0.02, amplitude=16384, freq=400))[0]  # whole periods in one frame
    assert rms_dbfs(sine) == pytest.approx(20 * np.log10(16384 / np.sqrt(2) / 32768), abs=0.1)  # about -9 dBFS
    full_square = np.full(FRAME_SAMPLES, -32768, dtype=np.int16).tobytes()
    assert rms_dbfs(full_square) == pytest.approx(0.0, abs=0.01)
    assert rms_dbfs(frames(tone(0.02, amplitude=1000))[0]) < rms_dbfs(sine)


def test_to_line_audio_resamples_and_scales():
    float_16k = tone(1.0, rate=16000).astype(np.float32) / 32768
    line = to_line_audio(float_16k, 16000)
    assert line.dtype == np.int16
    assert len(line) == SAMPLE_RATE
    assert np.abs(line).max() == pytest.approx(8000, rel=0.05)
    same = tone(0.5)
    np.testing.assert_array_equal(to_line_audio(same, SAMPLE_RATE), same)


# --- recorder -------------------------------------------------------------------------------------------


def test_call_recorder_writes_stereo_robot_left_callee_right(tmp_path):
    robot = frames(tone(0.2, amplitude=9000, freq=300))
    callee = frames(np.concatenate([np.zeros(800, dtype=np.int16), tone(0.1, amplitude=-5000, freq=700)]))
    assert len(robot) == len(callee) == 10
    recorder = CallRecorder()
    for out, back in zip(robot, callee, strict=True):
        recorder.add(out, back)
    assert recorder.duration_ms == 200

    path = tmp_path / "7" / "calls" / "42.wav"
    recorder.write_wav(path)
    assert not path.with_suffix(".part").exists()
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (2, 2, 8000, 1600)
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    np.testing.assert_array_equal(stereo[:, 0], pcm_to_array(b"".join(robot)))
    np.testing.assert_array_equal(stereo[:, 1], pcm_to_array(b"".join(callee)))
    np.testing.assert_array_equal(recorder.callee_audio(), stereo[:, 1])

    mono, rate = read_wav_mono(path)
    assert rate == 8000
    assert len(mono) == 1600


# --- simulator ------------------------------------------------------------------------------------------


class ToneVoice:
    """A test voice: every line is half a second of 440 Hz, and the lines asked for are kept."""

    def __init__(self, seconds: float = 0.5) -> None:
        self.seconds = seconds
        self.lines: list[str] = []

    def __call__(self, text: str) -> np.ndarray:
        self.lines.append(text)
        return tone(self.seconds, amplitude=12000)


@pytest.mark.parametrize(
    ("number", "name"),
    [
        ("+12025550121", "agrees"),
        ("+12025550122", "declines"),
        ("+12025550123", "asks for a callback"),
        ("+12025550124", "opts out"),
        ("+12025550125", "wrong person"),
        ("+12025550126", "busy"),
        ("+12025550127", "no answer"),
        ("+12025550128", "stays silent"),
        ("+12025550129", "asks to repeat, then agrees"),
        ("+12025550120", "unallocated number"),
    ],
)
def test_persona_for_last_digit(number, name):
    assert persona_for(number).name == name
    assert persona_for(number) is PERSONAS[number[-1]]


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [
        ("+12025550126", DialStatus.BUSY, 486),
        ("+12025550127", DialStatus.NO_ANSWER, 487),
        ("+12025550120", DialStatus.INVALID_NUMBER, 404),
    ],
)
def test_dial_failures(number, status, code):
    voice = ToneVoice()
    result = SimulatedCarrier(voice).dial(number, "+12025550100", ring_timeout=30)
    assert (result.status, result.sip_code, result.call) == (status, code, None)
    assert voice.lines == []


def test_dial_answers():
    result = SimulatedCarrier(ToneVoice()).dial("+12025550121", "+12025550100", ring_timeout=30)
    assert (result.status, result.sip_code, result.detail) == (DialStatus.ANSWERED, 200, "agrees")
    assert isinstance(result.call, SimulatedCall)
    assert result.call.elapsed_ms == 0


def speak_then_listen(call, speech_frames: int = 50, silence_frames: int = 100) -> list[bytes]:
    """Robot talks (loud tone) then keeps quiet; returns what the callee sent during the quiet part."""
    loud = frames(tone(speech_frames * 0.02, amplitude=12000))
    heard_while_talking = [call.exchange(f).pcm for f in loud]
    assert heard_while_talking == [SILENCE_FRAME] * speech_frames
    return [call.exchange(SILENCE_FRAME).pcm for _ in range(silence_frames)]


def first_sound(heard: list[bytes]) -> int | None:
    return next((i for i, pcm in enumerate(heard) if rms_dbfs(pcm) > -60), None)


def test_simulated_call_answers_after_robot_stops_speaking():
    voice = ToneVoice()
    call = SimulatedCarrier(voice).dial("+12025550121", "+12025550100", ring_timeout=30).call
    heard = speak_then_listen(call)

    start = first_sound(heard)
    assert start is not None
    # the reply begins on the frame that completes REPLY_AFTER_MS (600 ms) of robot silence
    assert (start + 1) * 20 == REPLY_AFTER_MS
    assert all(pcm == SILENCE_FRAME for pcm in heard[:start])
    assert voice.lines == ["Yes, I will be there."]
    reply = frames(through_g711(tone(0.5, amplitude=12000)))
    assert heard[start : start + len(reply)] == reply  # the voice, through G.711
    assert all(pcm == SILENCE_FRAME for pcm in heard[start + len(reply) :])
    assert call.heard_robot_ms == 1000
    assert call.elapsed_ms == 150 * 20


def test_simulated_call_quiet_robot_audio_is_not_speech():
    voice = ToneVoice()
    call = SimulatedCall(persona_for("+12025550121"), voice)
    whisper = frames(tone(1.0, amplitude=100))  # about -53 dBFS, under the -45 dBFS speech threshold
    heard = [call.exchange(f).pcm for f in whisper] + [call.exchange(SILENCE_FRAME).pcm for _ in range(60)]
    assert first_sound(heard) is None
    assert voice.lines == []
    assert call.heard_robot_ms == 0


def test_simulated_call_speaks_each_line_after_each_robot_turn():
    voice = ToneVoice(seconds=0.2)
    call = SimulatedCall(persona_for("+12025550129"), voice)
    first = speak_then_listen(call, silence_frames=60)
    assert first_sound(first) == REPLY_AFTER_MS // 20 - 1
    assert voice.lines == ["Sorry, could you repeat that?"]
    second = speak_then_listen(call, speech_frames=25, silence_frames=60)
    assert first_sound(second) == REPLY_AFTER_MS // 20 - 1
    assert voice.lines == ["Sorry, could you repeat that?", "Yes, that works for me."]
    third = speak_then_listen(call, speech_frames=25, silence_frames=60)
    assert first_sound(third) is None  # nothing left to say


def test_robot_hangup_ends_the_call():
    call = SimulatedCall(persona_for("+12025550121"), ToneVoice())
    call.exchange(SILENCE_FRAME)
    call.hangup()
    with pytest.raises(CallEnded) as excinfo:
        call.exchange(SILENCE_FRAME)
    assert excinfo.value.reason is EndReason.ROBOT_HANGUP
    call.hangup()  # idempotent
    with pytest.raises(CallEnded):
        call.exchange(SILENCE_FRAME)
    assert call.elapsed_ms == 20


def test_silent_callee_hangs_up_after_long_silence():
    call = SimulatedCall(persona_for("+12025550128"), ToneVoice())
    speak_then_listen(call, silence_frames=0)
    quiet_frames = 0
    with pytest.raises(CallEnded) as excinfo:
        while quiet_frames < 2000:
            assert call.exchange(SILENCE_FRAME).pcm == SILENCE_FRAME
            quiet_frames += 1
    assert excinfo.value.reason is EndReason.CALLEE_HANGUP
    assert abs(quiet_frames * 20 - GIVE_UP_SILENCE_MS) <= 20
