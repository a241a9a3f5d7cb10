"""End of turn: false cut-ins on answers with pauses inside them, and how soon a finished answer is taken.

A held-out set written for this benchmark (not used to choose any setting): 12 answers with a pause inside
("Yes, <600 ms> but only after five."), pauses 400-1000 ms, and 8 finished answers without one; each spoken by
five voices (piper `joe` at two speeds, espeak-ng en-us, en-gb+f3, en-us+m3), through G.711, fed frame by frame
to the product's endpointer and whisper recogniser as Conversation._listen feeds them
(pipeline.turn.follow_pause), paced in real time from the first speech on (the speculative decode runs
meanwhile, as on a line).

A *false cut-in*: the turn ended before the callee's last words began. *Turn taken*: media time from the end of
the callee's speech to the endpointer's decision (the robot answers once the final transcript is also there).

    .venv/bin/python -m bench.turn_taking            # both endpointing modes, prints the table
    .venv/bin/python -m bench.turn_taking --write    # and replaces the section in docs/PERFORMANCE.md
    .venv/bin/python -m bench.turn_taking --costs    # CPU per turn-model verdict and per Silero VAD window
    .venv/bin/python -m bench.turn_taking --vad --write   # energy detector vs Silero VAD on noisy lines
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import time
from collections import deque

import numpy as np

from bench.doc import replace_section
from bench.speech_data import VOICES, synthesize
from bench.speech_report import percentile
from pipeline.asr import WhisperASR
from pipeline.conversation import PRE_ROLL_FRAMES
from pipeline.endpoint import EndpointConfig, Endpointer, State
from pipeline.turn import follow_pause
from telephony.audio import frames, rms_dbfs, through_g711
from telephony.interface import FRAME_MS, SAMPLE_RATE

START, END = "<!-- turn-taking:start -->", "<!-- turn-taking:end -->"
PAUSED = [  # text, pause (ms), text
    ("Yes,", 600, "but only after five."),
    ("I could come on Tuesday", 700, "or maybe Wednesday."),
    ("My number is five five five,", 800, "one two three four."),
    ("Well,", 900, "I'm not sure I can make it."),
    ("No,", 500, "I already have an appointment that day."),
    ("Hmm,", 1000, "let me check my calendar."),
    ("I'd like to come", 600, "but I need a ride."),
    ("Can you call me back", 700, "after lunch?"),
    ("Sure,", 400, "that's fine."),
    ("The best time is", 800, "around ten in the morning."),
    ("I think", 600, "yes."),
    ("Please remove me", 500, "from your list."),
]
FINISHED = [
    "Yes, I will.",
    "No thanks.",
    "That works for me.",
    "Please call me tomorrow.",
    "I'm not interested.",
    "Sure, see you then.",
    "Can you send me a text instead?",
    "Friday at three is fine.",
]
MODES = {
    "fixed 600 ms silence (before)": EndpointConfig(content_turns=False),
    "turn model + transcript, first asked at 200 ms (the default)": EndpointConfig(),
    "turn model + transcript, first asked at 400 ms": EndpointConfig(turn_pause_ms=400),
    "turn model + transcript, decoding from 60 ms into the pause": EndpointConfig(early_decode_ms=60),
}


def silence(ms: int) -> np.ndarray:
    return np.zeros(SAMPLE_RATE * ms // 1000, np.int16)


def last_loud_ms(audio: np.ndarray) -> int:
    loud = [i for i, f in enumerate(frames(audio)) if rms_dbfs(f) > EndpointConfig().min_speech_dbfs]
    return (loud[-1] + 1) * FRAME_MS


def build(engine: str, voice: str, parts: tuple) -> tuple[np.ndarray, int, int]:
    """The answer's audio (400 ms lead-in, 3 s tail), where its last words begin and where its speech ends (ms)."""
    pieces, last_start = [silence(400)], 0
    for part in parts:
        if isinstance(part, int):
            pieces.append(silence(part))
        else:
            last_start = sum(len(p) for p in pieces) * 1000 // SAMPLE_RATE
            pieces.append(synthesize(engine, voice, part))
    audio = through_g711(np.concatenate([*pieces, silence(3000)]))
    return audio, last_start, last_loud_ms(audio)


def take_turn(audio: np.ndarray, config: EndpointConfig, asr: WhisperASR) -> tuple[int | None, str]:
    endpointer, recognizer = Endpointer(config), asr.recognizer()
    pre_roll: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
    clock = None
    for index, frame in enumerate(frames(audio)):
        if endpointer.feed(frame, index * FRAME_MS) is State.WAITING:
            pre_roll.append(frame)
            continue
        while pre_roll:  # as Conversation._listen: the frames just before the detected start are heard too
            recognizer.accept(pre_roll.popleft())
        if config.content_turns:  # real-time pacing matters only when the transcript takes part
            clock = clock or time.monotonic() - index * FRAME_MS / 1000
            time.sleep(max(0.0, clock + index * FRAME_MS / 1000 - time.monotonic()))
        recognizer.accept(frame)
        if follow_pause(endpointer, recognizer) is State.ENDED:
            recognizer.cancel_prepared()
            return (index + 1) * FRAME_MS, str(endpointer.ended_by)
    recognizer.cancel_prepared()
    return None, "never"


def run(asr: WhisperASR, modes: list[str]) -> list[dict]:
    paused = [(v, f"{a} / {c}", *build(e, voice, (a, pause, c))) for v, e, voice in VOICES for a, pause, c in PAUSED]
    finished = [(v, *build(e, voice, (text,))) for v, e, voice in VOICES for text in FINISHED]
    rows = []
    for mode in modes:
        config = MODES[mode]
        cut_by_voice, reasons, cut_examples = (collections.Counter() for _ in range(3))
        delays = []
        for voice_name, label, audio, last_start, _ in paused:
            ended_at, _ = take_turn(audio, config, asr)
            if ended_at is not None and ended_at < last_start:
                cut_by_voice[voice_name] += 1
                cut_examples[label] += 1
        for _, audio, _, speech_end in finished:
            ended_at, reason = take_turn(audio, config, asr)
            reasons[reason] += 1
            if ended_at is not None:
                delays.append(ended_at - speech_end)
        row = {
            "mode": mode,
            "paused": len(paused),
            "cut": sum(cut_by_voice.values()),
            "by_voice": dict(cut_by_voice),
            "examples": cut_examples.most_common(4),
            "finished": len(finished),
            "delay_p50": percentile(delays, 50),
            "delay_p90": percentile(delays, 90),
            "reasons": dict(reasons),
        }
        print(row, flush=True)
        rows.append(row)
    return rows


def report(rows: list[dict], command: str) -> str:
    lines = [
        "## End of turn: false cut-ins and time to take the turn",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d} on this project's 2-core machine, shared with other "
        f"engineers' work (load average {os.getloadavg()[0]:.1f} at the end). {__doc__.split(chr(10) + chr(10))[1]}",
        "",
        f"Command: `{command}`",
        "",
        "| end of turn | answers with a pause | false cut-ins | finished answers | turn taken after the end of "
        "speech, median / P90 (ms) | why finished answers ended |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items()))
        lines.append(
            f"| {r['mode']} | {r['paused']} | **{r['cut']} ({100 * r['cut'] / r['paused']:.1f} %)** | "
            f"{r['finished']} | {r['delay_p50']:.0f} / {r['delay_p90']:.0f} | {reasons} |"
        )
    lines.append("")
    for r in rows:
        if r["cut"]:
            by_voice = ", ".join(f"{k} {v}" for k, v in sorted(r["by_voice"].items()))
            examples = "; ".join(f"“{k}” ×{v}" for k, v in r["examples"])
            lines.append(f"- {r['mode']}: cut-ins by voice: {by_voice}; most cut: {examples}.")
    return "\n".join(lines)


VAD_START, VAD_END = "<!-- turn-vad:start -->", "<!-- turn-vad:end -->"


def noisy(audio: np.ndarray, snr_db: float | None, seed: int) -> np.ndarray:
    """Pink noise under the whole track at `snr_db` below the speech's active level (None: clean G.711)."""
    from bench.speech_data import pink_noise

    if snr_db is None:
        return audio
    x = audio.astype(np.float64)
    active = x[np.abs(x) > 300]
    level = np.sqrt(np.mean(active**2)) if active.size else 1000.0
    return through_g711(np.clip(x + pink_noise(len(x), seed) * level / 10 ** (snr_db / 20), -32768, 32767))


def vad_compare() -> str:
    """With the fixed 600 ms silence (so only the voice activity detector differs, and no real time is needed):
    does the turn end within 1 s of the end of the finished answers (the end measured on the clean audio, by
    energy: it includes the quiet tail of the last syllable), and do the paused answers' pauses (700 ms and more)
    end the turn, on clean and noisy lines; and does 5 s of noise alone start a turn."""
    rows = []
    finished = [build(e, v, (t,)) for _, e, v in VOICES for t in FINISHED]
    paused = [build(e, v, (a, p, c)) for _, e, v in VOICES for a, p, c in PAUSED if p >= 700]
    for snr in (None, 10.0, 5.0):
        for vad in ("energy", "silero"):
            config = EndpointConfig(content_turns=False, vad=vad)
            on_time = paused_heard = false_starts = 0
            delays = []
            for seed, (audio, _, speech_end) in enumerate(finished):
                ended_at = fixed_end(noisy(audio, snr, seed), config)
                on_time += ended_at is not None and speech_end - 300 <= ended_at <= speech_end + 1000
                delays.append(ended_at - speech_end if ended_at is not None else 60_000)
            for seed, (audio, last_start, _) in enumerate(paused):
                ended_at = fixed_end(noisy(audio, snr, seed + 1000), config)
                paused_heard += ended_at is not None and ended_at < last_start
            for seed in range(20):
                quiet = through_g711(np.zeros(SAMPLE_RATE * 5, np.int16) + 40)  # a faint line hum under the noise
                endpointer = Endpointer(config)
                states = {endpointer.feed(f) for f in frames(noisy(quiet, snr, seed + 2000) if snr else quiet)}
                false_starts += any(state is not State.WAITING for state in states)
            rows.append(
                f"| {'clean G.711' if snr is None else f'pink noise {snr:.0f} dB SNR'} | {vad} | "
                f"{100 * on_time / len(finished):.0f} % | {median_delay(delays)} | "
                f"{100 * paused_heard / len(paused):.0f} % | "
                f"{false_starts} of 20 |"
            )
            print(rows[-1], flush=True)
    return "\n".join(
        [
            "### Voice activity: energy detector or Silero VAD",
            "",
            f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d}, load average {os.getloadavg()[0]:.1f}. {vad_compare.__doc__}"
            f" The same held-out answers and five voices as above ({len(finished)} finished answers, {len(paused)} "
            "paused ones), pink noise under the whole track relative to the speech's active level; `vad=silero` "
            "takes a frame for speech when it is above the energy floor and Silero's probability is at least 0.5.",
            "",
            "Command: `.venv/bin/python -m bench.turn_taking --vad --write`",
            "",
            "| line | detector | finished answers ended within 1 s | end of speech → end of turn, median ms "
            "| pauses of 700+ ms heard | noise alone taken for speech |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )


def median_delay(delays: list[int]) -> str:
    median = percentile(delays, 50)
    return "never ended" if median >= 60_000 else f"{median:.0f}"


def fixed_end(audio: np.ndarray, config: EndpointConfig) -> int | None:
    endpointer = Endpointer(config)
    for index, frame in enumerate(frames(audio)):
        if endpointer.feed(frame, index * FRAME_MS) is State.ENDED:
            return (index + 1) * FRAME_MS
    return None


def costs(rounds: int = 200) -> None:
    """What the turn model costs per verdict, and what Silero VAD (the wheel's other model) would cost per call."""
    import onnxruntime as ort

    from pipeline.turn import VAD_MODEL_FILE, bundled_turn_model, model_file

    model = bundled_turn_model()
    answer = through_g711(np.concatenate([synthesize("piper", "1.0", "Yes, I will be there."), silence(200)]))
    model.complete_probability(answer)
    started = time.process_time()
    for _ in range(rounds // 10):
        model.complete_probability(answer)
    verdict_ms = (time.process_time() - started) / (rounds // 10) * 1000
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    vad = ort.InferenceSession(str(model_file(VAD_MODEL_FILE)), sess_options=options)
    state, window = np.zeros((2, 1, 128), np.float32), np.zeros((1, 32 + 256), np.float32)
    rate = np.array(SAMPLE_RATE, np.int64)
    started = time.process_time()
    for _ in range(rounds * 10):
        _, state = vad.run(None, {"input": window, "state": state, "sr": rate})
    vad_us = (time.process_time() - started) / (rounds * 10) * 1e6
    print(
        f"turn model: {verdict_ms:.0f} ms of CPU per verdict (8 s window); Silero VAD: {vad_us:.0f} µs of CPU per "
        f"32 ms window = {vad_us / 32_000 * 100:.2f} % of a core per call listening; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="replace the section in docs/PERFORMANCE.md")
    parser.add_argument("--modes", type=int, nargs="+", default=list(range(len(MODES))), help="which MODES rows")
    parser.add_argument("--costs", action="store_true", help="only the CPU cost of the two models")
    parser.add_argument("--vad", action="store_true", help="only the energy detector vs Silero VAD comparison")
    args = parser.parse_args()
    if args.costs:
        return costs()
    if args.vad:
        section = vad_compare()
        print(section)
        if args.write:
            replace_section(VAD_START, VAD_END, section)
        return None
    asr = WhisperASR(threads=1)
    asr.transcribe_utterance(silence(1000))  # load before timing
    rows = run(asr, [list(MODES)[i] for i in args.modes])
    section = report(rows, ".venv/bin/python -m bench.turn_taking --write")
    print(section)
    if args.write:
        replace_section(START, END, section)


if __name__ == "__main__":
    main()
