"""Answering-machine detection (AMD): human or machine, from the first seconds after answer. No Django.

What it looks at, frame by frame (20 ms of 8 kHz PCM16, as the call seam delivers it):

- **Greeting length.** A person answers with a short greeting ("Hello?", "Yes, speaking") and then waits for the
  caller; a machine plays a long greeting with only short pauses. Speech is a frame louder than the line's noise
  floor (the 10th percentile of the last 3 s, so a noisy line does not look like talk) by `speech_margin_db`;
  gaps under `word_gap_ms` join words into one stretch of talk. Talk for longer than `greeting_max_ms` from its
  first word: machine. Talk followed by `after_greeting_silence_ms` of silence: human.
- **Initial silence.** Nothing said for `initial_silence_ms`: a human who waits for the caller to speak first
  (low confidence; the robot then speaks, which is harmless to a person).
- **The beep.** A pure tone between 300 and 3000 Hz lasting `beep_min_ms`: 40 ms Hann-windowed FFT every 20 ms;
  a frame is tonal when the peak (±4 bins, ~±60 Hz) holds `tone_ratio` of the band's energy, and a beep is a run
  of tonal frames whose peak stays within 40 Hz. Speech never holds that much energy in one partial for long.
  A beep at any time means machine.

`classify(audio)` gives `(verdict, confidence, beep_at_ms)` for a recorded greeting; `Detector` does the same
live, and after a machine verdict tells when to speak: once the beep has ended, or, for machines without a
beep, once the greeting has been followed by `message_silence_ms` of silence.
`screen_call(exchange)` and `wait_for_message_cue(detector, exchange)` drive it over a call (used by
pipeline.conversation when the campaign script has a "voicemail" setting).

Accuracy on constructed greetings (piper and espeak-ng voices, G.711, noise): `python -m bench.amd`, figures in
docs/PERFORMANCE.md.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from telephony.interface import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, SILENCE_FRAME, Frame

HUMAN = "human"
MACHINE = "machine"

_FFT = 512
_WINDOW = np.hanning(2 * FRAME_SAMPLES).astype(np.float32)
_FREQS = np.fft.rfftfreq(_FFT, 1 / SAMPLE_RATE)
_BAND = (_FREQS >= 200) & (_FREQS <= 3600)  # energy the tone is compared with
_TONE_BAND = np.flatnonzero((_FREQS >= 300) & (_FREQS <= 3000))  # where a beep may be
_PEAK_BINS = 4


@dataclass(frozen=True)
class AmdConfig:
    initial_silence_ms: int = 3000
    greeting_max_ms: int = 1800
    after_greeting_silence_ms: int = 800
    total_ms: int = 5000  # no verdict by then: machine if still talking, else human
    word_gap_ms: int = 200
    min_talk_ms: int = 60  # shorter bursts (clicks, line noise) are not a greeting
    speech_margin_db: float = 6.0
    min_speech_dbfs: float = -50.0
    beep_min_ms: int = 120
    tone_ratio: float = 0.8
    tone_drift_hz: float = 40.0
    message_silence_ms: int = 1500  # a machine without a beep: the greeting is over after this much silence
    message_wait_ms: int = 30000  # longest wait for the beep before leaving the message anyway


@dataclass(frozen=True)
class Verdict:
    verdict: str  # HUMAN | MACHINE
    confidence: float
    beep_at_ms: int | None
    decided_at_ms: int
    reason: str  # "short_greeting" | "initial_silence" | "long_greeting" | "beep" | "still_talking" | "quiet"
    greeting_ms: int  # from the first word to the last one heard so far

    def as_dict(self) -> dict:
        return asdict(self)


def _dbfs(x: np.ndarray) -> float:
    x = x - x.sum() / max(x.size, 1)
    rms = float(np.sqrt(np.dot(x, x) / x.size)) if x.size else 0.0
    return 20 * np.log10(max(rms, 1e-3) / 32768.0)


class Detector:
    """Feed 20 ms frames from the moment of answer; `verdict` is set once, when the evidence is enough."""

    def __init__(self, config: AmdConfig | None = None) -> None:
        self.config = config or AmdConfig()
        self.now_ms = 0
        self.verdict: Verdict | None = None
        self._levels: deque[float] = deque(maxlen=3000 // FRAME_MS)
        self._floor = -120.0  # 10th percentile of the frame levels over the last 3 s
        self._noise_psd: np.ndarray | None = None  # the line's noise spectrum, from frames that are not loud
        self._quiet_frames = 0
        self._previous = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        # talk: stretches of speech frames joined across short gaps
        self._talk_start: int | None = None  # the current stretch
        self._talk_frames = 0
        self._last_speech_end: int | None = None
        self._greeting_start: int | None = None  # first stretch that lasted min_talk_ms
        self._greeting_end: int | None = None
        # tone
        self._tone_start: int | None = None
        self._tone_freq = 0.0
        self._tone_frames = 0
        self.beep_at_ms: int | None = None
        self.beep_end_ms: int | None = None
        self.beep_hz: float | None = None

    # -- per frame ---------------------------------------------------------------------------------------

    def feed(self, pcm: bytes | np.ndarray) -> Verdict | None:
        x = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, bytes | bytearray) else np.asarray(pcm)
        x = x.astype(np.float32)
        start = self.now_ms
        self.now_ms += FRAME_MS
        level = _dbfs(x)
        self._levels.append(level)
        if len(self._levels) < 10 or self.now_ms % 100 == 0:  # the floor moves slowly: every 100 ms is enough
            levels = np.fromiter(self._levels, float, len(self._levels))
            self._floor = float(np.partition(levels, len(levels) // 10)[len(levels) // 10])
        loud = level >= max(self._floor + self.config.speech_margin_db, self.config.min_speech_dbfs)
        tonal = self._tone(x, start, loud)
        self._talk(start, loud and not tonal)
        self._previous = x
        if self.verdict is None:
            self.verdict = self._decide()
        return self.verdict

    def _spectrum(self, x: np.ndarray) -> np.ndarray:
        return np.abs(np.fft.rfft(np.concatenate([self._previous, x]) * _WINDOW, _FFT)) ** 2

    def _tone(self, x: np.ndarray, start: int, loud: bool) -> bool:
        cfg = self.config
        tonal, freq = False, 0.0
        if not loud:
            self._quiet_frames += 1
            if self._quiet_frames % 4 == 1:  # track the noise spectrum (cheaply) for the noise-compensated ratio
                spectrum = self._spectrum(x)
                self._noise_psd = spectrum if self._noise_psd is None else 0.8 * self._noise_psd + 0.2 * spectrum
        else:
            spectrum = self._spectrum(x)
            if self._noise_psd is not None:  # stationary line noise does not dilute a tone
                spectrum = np.maximum(spectrum - self._noise_psd, 0.0)
            total = float(spectrum[_BAND].sum()) + 1e-9
            peak = int(_TONE_BAND[np.argmax(spectrum[_TONE_BAND])])
            tonal = float(spectrum[peak - _PEAK_BINS : peak + _PEAK_BINS + 1].sum()) / total >= cfg.tone_ratio
            freq = float(_FREQS[peak])
        if tonal and self._tone_start is not None and abs(freq - self._tone_freq) <= cfg.tone_drift_hz:
            self._tone_frames += 1
        else:  # the current run of tone (if any) is over
            if self._tone_start is not None and self.beep_at_ms == self._tone_start and self.beep_end_ms is None:
                self.beep_end_ms = start
            self._tone_start, self._tone_freq, self._tone_frames = (start, freq, 1) if tonal else (None, 0.0, 0)
        if self._tone_start is not None and self.beep_at_ms is None and self._tone_frames * FRAME_MS >= cfg.beep_min_ms:
            self.beep_at_ms, self.beep_hz = self._tone_start, self._tone_freq
        return tonal

    def _talk(self, start: int, speech: bool) -> None:
        cfg = self.config
        if speech:
            gap = start - self._last_speech_end if self._last_speech_end is not None else None
            if self._talk_start is None or gap is None or gap > cfg.word_gap_ms:
                self._talk_start, self._talk_frames = start, 0
            self._talk_frames += 1
            self._last_speech_end = start + FRAME_MS
            if self._talk_frames * FRAME_MS >= cfg.min_talk_ms:
                if self._greeting_start is None:
                    self._greeting_start = self._talk_start
                self._greeting_end = self._last_speech_end

    # -- decisions ---------------------------------------------------------------------------------------

    def _decide(self) -> Verdict | None:
        cfg, now = self.config, self.now_ms
        if self.beep_at_ms is not None:
            return self._verdict(MACHINE, 0.97, "beep")
        if self._greeting_start is None:
            if now >= cfg.initial_silence_ms:
                return self._verdict(HUMAN, 0.5, "initial_silence")
            return None
        span = self._greeting_end - self._greeting_start
        if span > cfg.greeting_max_ms:
            return self._verdict(MACHINE, 0.8, "long_greeting")
        if now - self._greeting_end >= cfg.after_greeting_silence_ms:
            shortness = np.clip((span - 600) / max(cfg.greeting_max_ms - 600, 1), 0, 1)
            return self._verdict(HUMAN, round(float(0.95 - 0.35 * shortness), 2), "short_greeting")
        if now >= cfg.total_ms:
            return self._verdict(MACHINE, 0.6, "still_talking")
        return None

    def _verdict(self, verdict: str, confidence: float, reason: str) -> Verdict:
        greeting = 0 if self._greeting_start is None else self._greeting_end - self._greeting_start
        return Verdict(verdict, confidence, self.beep_at_ms, self.now_ms, reason, greeting)

    def finish(self) -> Verdict:
        """The verdict for audio that ended before one was reached (a recorded greeting that is too short)."""
        if self.verdict is None:
            talking = self._last_speech_end is not None and self.now_ms - self._last_speech_end < FRAME_MS * 3
            if self._greeting_start is not None and talking:
                self.verdict = self._verdict(MACHINE, 0.6, "still_talking")
            else:
                self.verdict = self._verdict(HUMAN, 0.5, "quiet")
        return self.verdict

    def message_cue(self) -> bool:
        """After a machine verdict: the beep is over, or the greeting ended without one. Speak now."""
        cfg = self.config
        if self.beep_end_ms is not None:
            return True
        if self.beep_at_ms is not None:  # the beep is still sounding
            return False
        quiet_since = self._last_speech_end if self._last_speech_end is not None else 0
        return self.now_ms - quiet_since >= cfg.message_silence_ms and self._tone_start is None


def classify(audio: np.ndarray, config: AmdConfig | None = None) -> tuple[str, float, int | None]:
    """(verdict, confidence, beep_at_ms) for int16 8 kHz audio that starts at the moment of answer.

    The verdict is what a live call would have decided (at `Verdict.decided_at_ms`); the beep is looked for in
    the whole recording, so a machine recognised by its long greeting still reports where its beep was."""
    detector = Detector(config)
    pcm = np.asarray(audio, dtype=np.int16)
    for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        detector.feed(pcm[i : i + FRAME_SAMPLES])
        if detector.verdict is not None and (detector.verdict.verdict == HUMAN or detector.beep_at_ms is not None):
            break
    verdict = detector.finish()
    return verdict.verdict, verdict.confidence, detector.beep_at_ms


# -- over a live call -----------------------------------------------------------------------------------


def screen_call(exchange: Callable[[bytes], Frame], config: AmdConfig | None = None) -> Detector:
    """Listen (sending silence) from the moment of answer until the detector decides; returns the detector."""
    detector = Detector(config)
    while detector.verdict is None:
        detector.feed(exchange(SILENCE_FRAME).pcm)
    return detector


def wait_for_message_cue(detector: Detector, exchange: Callable[[bytes], Frame]) -> bool:
    """Keep listening after a machine verdict until the beep has ended (True) or the greeting is over without
    one (False); gives up waiting after `message_wait_ms` (False)."""
    deadline = detector.now_ms + detector.config.message_wait_ms
    while not detector.message_cue() and detector.now_ms < deadline:
        detector.feed(exchange(SILENCE_FRAME).pcm)
    return detector.beep_end_ms is not None
