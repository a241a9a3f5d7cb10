"""Test signals for SIP media tests: chirps, their correlation in a recording, and talking frame by frame."""

from __future__ import annotations

import time

import numpy as np

from telephony.audio import frames
from telephony.interface import SILENCE_FRAME
from tests.support.sip.peers import RATE


def chirp(f0: float, f1: float, seconds: float, dbfs: float = -12) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))
    return (10 ** (dbfs / 20) * 32767 * np.sin(phase) * np.hanning(len(t)) ** 0.1).astype(np.int16)


def best_correlation(reference: np.ndarray, recording: np.ndarray) -> float:
    """Signed normalised correlation of `reference` at its best alignment inside `recording`."""
    ref = reference.astype(np.float64)
    rec = recording.astype(np.float64)
    n = len(ref) + len(rec)
    spectrum = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)
    lag = int(np.argmax(np.abs(spectrum[: len(rec)])))
    window = rec[lag : lag + len(ref)]
    ref = ref[: len(window)]
    return float(np.dot(ref, window) / (np.linalg.norm(ref) * np.linalg.norm(window) + 1e-9))


def segment_correlation(reference: np.ndarray, recording: np.ndarray, seconds: float = 0.25) -> float:
    """Median best correlation of 250 ms pieces of `reference` in `recording`: robust to the jitter buffer
    dropping or concealing a frame somewhere, which shifts everything after it by 20 ms."""
    size = int(seconds * RATE)
    pieces = [reference[i : i + size] for i in range(0, len(reference) - size + 1, size)]
    return float(np.median([best_correlation(piece, recording) for piece in pieces]))


def talk(call, audio: np.ndarray, then_silence_frames: int = 0) -> tuple[list, float]:
    """Send `audio` (then silence) frame by frame; return what was heard and the wall time it took."""
    heard = []
    started = time.monotonic()
    for chunk in frames(audio) + [SILENCE_FRAME] * then_silence_frames:
        heard.append(call.exchange(chunk))
    return heard, time.monotonic() - started
