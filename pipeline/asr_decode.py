"""What an ASR decode process runs (pipeline.asr_service starts them): one faster-whisper model, one decode at a
time, a live answer in an encoder window cut to its length, or a whole file in whisper's 30 s windows."""

from __future__ import annotations

import math
import signal

import numpy as np
import soxr

from pipeline.asr_messages import decode, encode
from telephony.interface import SAMPLE_RATE

MODEL_RATE = 16000
SHORT_WINDOW_PAD_FRAMES = 1000  # + 10 s of silence (see short_window_transcribe)


class Cancelled(Exception):
    """A speculative decode was superseded before it finished."""


def upsample(audio: np.ndarray) -> np.ndarray:
    return soxr.resample(audio.astype(np.float32) / 32768.0, SAMPLE_RATE, MODEL_RATE)


def short_window_transcribe(model, audio: np.ndarray, language: str, cancelled=None, prompt: str | None = None) -> dict:
    """Greedy decoding of one short utterance (16 kHz float) with the encoder window cut to its length (plus
    10 s). A set `cancelled` (anything with is_set()) stops it between its steps (the encoder, the decoder, the
    word alignment each run uninterrupted)."""

    def check() -> None:
        if cancelled is not None and cancelled.is_set():
            raise Cancelled

    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    features = model.feature_extractor(audio)
    frames = features.shape[-1]
    # 10 ms frames. Ten seconds of padding: with less, tiny.en starts repeating the utterance into the padding
    # (measured on the bench set: WER 50 % with 1 s, 30 % with 4 s, 14 % with 10 s, 17 % with the full 30 s).
    window = min(3000, frames + SHORT_WINDOW_PAD_FRAMES)
    check()
    encoded = model.encode(pad_or_trim(features, window))
    check()
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    previous = tokenizer.encode(" " + prompt.strip()) if prompt else []  # the node's expected answers
    tokens_in = model.get_prompt(tokenizer, previous, without_timestamps=True)
    result = model.model.generate(
        encoded,
        [tokens_in],
        beam_size=1,
        max_length=len(tokens_in) + 16 + int(8 * frames / 100),  # ample for speech, bounds a hallucination loop
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    if not tokens or (result.no_speech_prob > 0.6 and avg_logprob < -1.0):  # whisper's own silence rule
        return {"text": "", "confidence": 0.0, "words": []}
    check()
    # In a cut window whisper may "hear" the utterance again in the padding. Such words align to no audio:
    # zero length, piled up at the end. Everything from the first of them on is dropped.
    aligned = model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
    end_of_audio = frames / 100 - 0.3
    for index, word in enumerate(aligned):
        empty_from_here = all(w["end"] - w["start"] < 0.01 for w in aligned[index:])
        if word["start"] >= end_of_audio and empty_from_here and index + 1 < len(aligned):
            aligned = aligned[:index]
            break
    kept = [t for word in aligned for t in word["tokens"]]
    words = [[w["word"].strip(), round(w["start"], 2), round(w["end"], 2), w["probability"]] for w in aligned]
    return {"text": tokenizer.decode(kept).strip(), "confidence": round(math.exp(avg_logprob), 3), "words": words}


def file_transcribe(model, audio: np.ndarray, language: str) -> dict:
    """Whisper's own transcription in 30 s windows (post-call transcripts, long answers)."""
    segments, _ = model.transcribe(
        audio, language=language, beam_size=1, word_timestamps=True, condition_on_previous_text=False, vad_filter=False
    )
    segments = list(segments)
    if not segments:
        return {"text": "", "confidence": 0.0, "words": []}
    words = [[w.word.strip(), w.start, w.end, w.probability] for s in segments for w in (s.words or [])]
    # avg_logprob is per token; exp() turns it into a 0..1 figure comparable across utterances.
    confidence = math.exp(sum(s.avg_logprob for s in segments) / len(segments))
    text = " ".join(s.text.strip() for s in segments).strip()
    return {"text": text, "confidence": round(confidence, 3), "words": words}


def decode_process(conn, cancelled, model_path: str, threads: int) -> None:
    """A decode process: one model, one decode at a time, until its pipe to the service closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the service stops us
    from faster_whisper import WhisperModel

    model = WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1)
    conn.send_bytes(encode({"ready": True}))
    while True:
        try:
            header, payload = decode(conn.recv_bytes())
        except (EOFError, OSError):
            return
        audio = upsample(np.frombuffer(payload, np.int16))
        try:
            if header["mode"] == "utterance":
                reply = short_window_transcribe(model, audio, header["language"], cancelled, header.get("prompt"))
            else:
                reply = file_transcribe(model, audio, header["language"])
        except Cancelled:
            reply = {"cancelled": True}
        except Exception as exc:  # noqa: BLE001 (the client gets the error; the process serves the next decode)
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        conn.send_bytes(encode(reply))
