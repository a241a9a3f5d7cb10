"""Telephone audio helpers: G.711 mu-law, framing, resampling, and a two-channel call recorder."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import soxr

from telephony.interface import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE

_BIAS = 0x84
_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


def _build_ulaw_decode_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


_ULAW_DECODE = _build_ulaw_decode_table()


def ulaw_encode(pcm: np.ndarray) -> np.ndarray:
    """Encode int16 samples to G.711 mu-law bytes (the ITU-T/Sun reference algorithm, as on PCMU RTP)."""
    x = pcm.astype(np.int32) >> 2  # 14-bit, as the reference coder works
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), 8159) + (_BIAS >> 2)
    segment = np.searchsorted(_SEGMENT_ENDS, magnitude)  # first end >= magnitude
    ulaw = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return (ulaw ^ mask).astype(np.uint8)


def ulaw_decode(codes: np.ndarray) -> np.ndarray:
    return _ULAW_DECODE[codes.astype(np.uint8)]


def through_g711(pcm: np.ndarray) -> np.ndarray:
    """What a callee's audio sounds like after a PCMU leg: encode then decode."""
    return ulaw_decode(ulaw_encode(pcm))


def to_line_audio(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Any mono float/int16 audio -> int16 8 kHz, the format of the call seam."""
    data = samples.astype(np.float32)
    if samples.dtype == np.int16:
        data = data / 32768.0
    if sample_rate != SAMPLE_RATE:
        data = soxr.resample(data, sample_rate, SAMPLE_RATE, quality="HQ")
    return np.clip(data * 32768.0, -32768, 32767).astype(np.int16)


def frames(pcm: np.ndarray) -> list[bytes]:
    """Split int16 8 kHz audio into 20 ms frames, zero-padding the last one."""
    pad = (-len(pcm)) % FRAME_SAMPLES
    if pad:
        pcm = np.concatenate([pcm, np.zeros(pad, dtype=np.int16)])
    raw = pcm.astype("<i2").tobytes()
    return [raw[i : i + FRAME_BYTES] for i in range(0, len(raw), FRAME_BYTES)]


def pcm_to_array(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2")


def rms_dbfs(pcm: bytes) -> float:
    x = pcm_to_array(pcm).astype(np.float32)
    if x.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(x * x)))
    return 20 * np.log10(max(rms, 1e-3) / 32768.0)


def read_wav_mono(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported, got {8 * w.getsampwidth()}-bit")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        channels = w.getnchannels()
        if channels > 1:
            data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
        return data, w.getframerate()


class CallRecorder:
    """Keeps both directions of a call in step, frame by frame; writes a stereo WAV (robot left, callee right)."""

    def __init__(self) -> None:
        self._robot: list[bytes] = []
        self._callee: list[bytes] = []

    def add(self, robot_pcm: bytes, callee_pcm: bytes) -> None:
        self._robot.append(robot_pcm)
        self._callee.append(callee_pcm)

    @property
    def duration_ms(self) -> int:
        return len(self._robot) * 20

    def callee_audio(self) -> np.ndarray:
        return pcm_to_array(b"".join(self._callee))

    def robot_audio(self) -> np.ndarray:
        return pcm_to_array(b"".join(self._robot))

    def write_wav(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        stereo = np.stack([self.robot_audio(), self.callee_audio()], axis=1).astype("<i2")
        tmp = path.with_suffix(".part")
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(stereo.tobytes())
        tmp.replace(path)
