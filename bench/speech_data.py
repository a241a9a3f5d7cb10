"""The labelled spoken-answer set for the speech benchmarks, and WER.

42 answers (every built-in intent) x 5 voices (piper `joe` at two speeds, espeak-ng en-us, en-gb+f3, en-us+m3)
= 210 utterances, each heard two ways: through G.711 (8 kHz mu-law), and with pink noise at 10 dB SNR added
before G.711. Audio is synthesised once into var/bench-speech/ (deterministic noise; piper's own sampling
noise is seeded by nothing, so re-synthesis differs slightly).
"""

from __future__ import annotations

import json
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.nlp import normalise
from telephony.audio import through_g711
from telephony.interface import SAMPLE_RATE

DATA_DIR = Path(__file__).resolve().parent.parent / "var" / "bench-speech"

ANSWERS: list[tuple[str, str]] = [
    ("affirm", "Yes, I will be there."),
    ("affirm", "Yeah, that works for me."),
    ("affirm", "Sure, no problem."),
    ("affirm", "Of course, I'll come."),
    ("affirm", "Absolutely, see you tomorrow."),
    ("deny", "No, I can't make it."),
    ("deny", "I won't be able to come."),
    ("deny", "No thank you."),
    ("deny", "I'm not interested."),
    ("deny", "Nope, I don't think so."),
    ("callback_request", "I'm busy right now, please call me back tomorrow afternoon."),
    ("callback_request", "Can you call me later?"),
    ("callback_request", "This is not a good time, call back on Friday."),
    ("callback_request", "I'm driving now, call me again in two hours."),
    ("callback_request", "Please call me back next week."),
    ("opt_out", "Stop calling me and remove me from your list."),
    ("opt_out", "Don't call this number again."),
    ("opt_out", "Take me off your list."),
    ("opt_out", "I want to unsubscribe."),
    ("opt_out", "Never call me again."),
    ("wrong_person", "Sorry, you have the wrong number."),
    ("wrong_person", "There is no one here by that name."),
    ("wrong_person", "She doesn't live here anymore."),
    ("wrong_person", "Wrong person."),
    ("ask_repeat", "Sorry, could you repeat that?"),
    ("ask_repeat", "What did you say?"),
    ("ask_repeat", "I didn't catch that."),
    ("ask_repeat", "Can you say that again?"),
    ("question", "What time is the appointment?"),
    ("question", "Where is the clinic?"),
    ("question", "Who is calling?"),
    ("question", "Can I bring my husband?"),
    ("question", "How long will it take?"),
    ("digits", "One two three four."),
    ("digits", "My number is five five five, one two three four."),
    ("digits", "Seven, eight, nine."),
    ("digits", "Zero four two."),
    ("digits", "Nine one one two."),
    ("unknown", "The weather is lovely today."),
    ("unknown", "Hmm, let me think."),
    ("unknown", "I had pasta for lunch."),
    ("unknown", "My cat is sleeping."),
]
VOICES: list[tuple[str, str, str]] = [  # (name, engine, voice)
    ("piper-joe", "piper", "1.0"),
    ("piper-joe-slow", "piper", "1.3"),
    ("espeak-en-us", "espeak", "en-us"),
    ("espeak-en-gb-f3", "espeak", "en-gb+f3"),
    ("espeak-en-us-m3", "espeak", "en-us+m3"),
]
CONDITIONS = ("g711", "noisy")
SNR_DB = 10.0


@dataclass(frozen=True)
class Utterance:
    key: str
    voice: str
    intent: str
    text: str


def synthesize(engine: str, voice: str, text: str) -> np.ndarray:
    if engine == "espeak":
        from pipeline.tts import EspeakTTS

        return EspeakTTS().synthesize(text, voice)
    from piper import SynthesisConfig

    from pipeline.tts import _load_piper_voice
    from telephony.audio import to_line_audio

    piper_voice = _load_piper_voice("joe")
    chunks = piper_voice.synthesize(text, syn_config=SynthesisConfig(length_scale=float(voice)))
    audio = np.concatenate([c.audio_int16_array for c in chunks])
    return to_line_audio(audio, piper_voice.config.sample_rate)


def pink_noise(samples: int, seed: int) -> np.ndarray:
    """1/f noise (white noise shaped in the frequency domain), unit RMS."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    noise = np.fft.irfft(spectrum, samples)
    return noise / np.sqrt(np.mean(noise**2))


def degrade(audio: np.ndarray, condition: str, seed: int) -> np.ndarray:
    if condition == "noisy":
        x = audio.astype(np.float64)
        active = x[np.abs(x) > 300]
        speech_rms = np.sqrt(np.mean(active**2)) if active.size else 1000.0
        x = x + pink_noise(len(x), seed) * speech_rms / 10 ** (SNR_DB / 20)
        audio = np.clip(x, -32768, 32767).astype(np.int16)
    return through_g711(audio)


def build(directory: Path = DATA_DIR) -> list[Utterance]:
    directory.mkdir(parents=True, exist_ok=True)
    utterances = []
    for voice_name, engine, voice in VOICES:
        for index, (intent, text) in enumerate(ANSWERS):
            key = f"{voice_name}-{index:02d}"
            write_wav(directory / f"{key}.wav", synthesize(engine, voice, text))
            utterances.append(Utterance(key, voice_name, intent, text))
    (directory / "labels.json").write_text(json.dumps([u.__dict__ for u in utterances], indent=1))
    return utterances


def load(directory: Path = DATA_DIR) -> list[Utterance]:
    labels = directory / "labels.json"
    if not labels.exists():
        raise SystemExit(f"No data set in {directory}: run `python -m bench.speech dataset` first.")
    return [Utterance(**u) for u in json.loads(labels.read_text())]


def audio_for(utterance: Utterance, condition: str, directory: Path = DATA_DIR) -> np.ndarray:
    with wave.open(str(directory / f"{utterance.key}.wav"), "rb") as w:
        clean = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    seed = int.from_bytes(utterance.key.encode()[-4:], "little")
    return degrade(clean, condition, seed)


def write_wav(path: Path, audio: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(audio.astype("<i2").tobytes())


# --- WER -------------------------------------------------------------------------------------------------

_NUMBERS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_CONTRACTIONS = {
    "i'll": "i will", "i'm": "i am", "can't": "can not", "cannot": "can not", "won't": "will not",
    "don't": "do not", "didn't": "did not", "doesn't": "does not", "that's": "that is", "it's": "it is",
    "you're": "you are", "what's": "what is", "there's": "there is", "i'd": "i would", "let's": "let us",
}  # fmt: skip


def wer_words(text: str) -> list[str]:
    """Words compared for WER: normalised, contractions expanded, numbers as single digits ("555" = 5 5 5)."""
    words = []
    for word in normalise(text).split():
        word = _CONTRACTIONS.get(word, word)
        for part in word.split():
            part = _NUMBERS.get(part, part)
            words.extend(list(part) if re.fullmatch(r"\d+", part) else [part])
    return words


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i]
        for j, hyp_word in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
        previous = current
    return previous[-1]
