"""Whole-conversation speech benchmarks over the simulated carrier: response latency and cache hit rate."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from bench.speech_report import percentile, table, write_block

PACED, UNPACED = ", calls paced in real time (20 ms a frame)", ", calls not paced (as fast as the CPU goes)"
NAMES = ["Anna", "Ben", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kofi", "Lena"]


def _engines():
    from pipeline.tts import EspeakTTS, PiperTTS

    return [PiperTTS(), EspeakTTS()]


def _talk(digit: str, context: dict, speaker, persona_voice, whisper, realtime: bool = False, endpoint_config=None):
    from bench.speech import NOW
    from pipeline.conversation import Conversation
    from pipeline.script import DEFAULT_SCRIPT
    from telephony.simulator import SimulatedCarrier

    call = SimulatedCarrier(persona_voice, realtime=realtime).dial(f"+1202555020{digit}", "+12025550100", 30).call
    return Conversation(call, DEFAULT_SCRIPT, context, speaker, whisper, NOW, endpoint_config=endpoint_config).run()


def _end_of_speech_to_audio(turns) -> list[int]:
    """Per answered callee turn: its pause before the end-of-turn decision (media time) + the robot's response
    latency after it (wall time, decision to first frame)."""
    latencies = []
    for callee, robot in zip(turns, turns[1:], strict=False):
        if callee.speaker == "callee" and callee.pause_ms is not None and robot.response_latency_ms is not None:
            latencies.append(callee.pause_ms + robot.response_latency_ms)
    return latencies


def run_latency(args, command: str, machine: str) -> None:
    """End of callee speech -> the robot's first audio, per answered turn, with the prompt cache warm or cold."""
    from pipeline import nlp
    from pipeline.asr import WhisperASR
    from pipeline.endpoint import EndpointConfig
    from pipeline.prompts import synthesize_prompts
    from pipeline.script import DEFAULT_SCRIPT
    from pipeline.tts import PiperTTS, PromptCache, Speaker
    from telephony.simulator import PERSONAS

    whisper = WhisperASR(threads=1)
    nlp.classify("yes", None)  # the answer classifier loads its model on first use: not inside the first call
    trailing = EndpointConfig().trailing_silence_ms
    answering = [d for d, p in sorted(PERSONAS.items()) if p.lines]
    rows = []
    endpointing = {"fixed": EndpointConfig(content_turns=False), "content": EndpointConfig()}
    modes = [("warm", "fixed"), ("warm", "content")] if args.realtime else [("warm", "fixed"), ("cold", "fixed")]
    with tempfile.TemporaryDirectory() as root:
        persona_voice = Speaker([PiperTTS()], PromptCache(Path(root) / "personas"))
        for mode, ending in modes:
            processing, asr, whole = [], [], []
            for round_ in range(args.rounds):
                for digit in answering:
                    context = {"first_name": NAMES[(round_ * len(answering) + int(digit)) % len(NAMES)]}
                    folder = Path(root) / (mode if mode == "warm" else f"cold-{round_}-{digit}")
                    speaker = Speaker(_engines(), PromptCache(folder))
                    if mode == "warm":
                        synthesize_prompts(speaker, DEFAULT_SCRIPT, [context])
                    result = _talk(digit, context, speaker, persona_voice, whisper, args.realtime, endpointing[ending])
                    whole += _end_of_speech_to_audio(result.turns)
                    processing += [t.response_latency_ms for t in result.turns if t.response_latency_ms is not None]
                    asr += [t.asr_latency_ms for t in result.turns if t.asr_latency_ms is not None]
            rows.append(
                [
                    ("pre-synthesised (cache hit)" if mode == "warm" else "cold cache (piper synthesises)")
                    + (", end of turn by content" if ending == "content" else ", fixed 600 ms silence"),
                    len(processing),
                    f"{statistics.median(asr):.0f}",
                    f"{statistics.median(processing):.0f}",
                    f"{percentile(processing, 99):.0f}",
                    f"**{statistics.median(whole):.0f}**",
                    f"**{percentile(whole, 99):.0f}**",
                ]
            )
    headers = [
        "robot prompts",
        "answered turns",
        "ASR final, median ms",
        "decision → first audio, P50 ms",
        "P99 ms",
        "end of speech → first audio, P50 ms",
        "P99 ms",
    ]
    note = (
        f"The default script over the simulated carrier, personas {', '.join(answering)} (piper voice through G.711), "
        f"{args.rounds} rounds per cache state; ASR whisper tiny.en int8, 1 thread"
        f"{PACED if args.realtime else UNPACED}"
        ". Whisper starts decoding 200 ms into the pause, which only overlaps the wait when calls run in "
        "real time. *Decision → first audio* is wall "
        "time from the endpointer's end-of-turn decision to the robot's first frame (ASR final + NLP + TTS); "
        "*end of speech → first audio* adds, turn by turn, the pause the endpointer waited before deciding "
        f"(media time: {trailing} ms with the fixed silence; 200 ms and more when the turn model decides), which a "
        "live call waits in real time. P99 over this few turns is close to the maximum. Target: P50 ≤ 300 ms, "
        f"P99 ≤ 700 ms. {machine}."
    )
    name = "latency-realtime" if args.realtime else "latency"
    title = "End of speech → first robot audio" + (", real-time calls" if args.realtime else "")
    write_block(name, title, command, note, table(headers, rows))


def run_campaign(args, command: str, machine: str) -> None:
    """Prompt-cache hit rate over a simulated campaign under three pre-synthesis strategies."""
    from pipeline.asr import WhisperASR
    from pipeline.prompts import synthesize_prompts
    from pipeline.script import DEFAULT_SCRIPT
    from pipeline.tts import PiperTTS, PromptCache, Speaker

    whisper = WhisperASR(threads=1)
    digits = "1234589"  # every answering persona and the silent one, in turn
    contacts = [(digits[i % len(digits)], {"first_name": f"{NAMES[i % len(NAMES)]}{i}"}) for i in range(args.contacts)]
    strategies = ["none", "static", "ahead"]
    rows = []
    with tempfile.TemporaryDirectory() as root:
        persona_voice = Speaker([PiperTTS()], PromptCache(Path(root) / "personas"))
        for strategy in strategies:
            cache = PromptCache(Path(root) / strategy)
            counts = {True: 0, False: 0}
            ahead = Speaker(_engines(), cache)
            presynth_s = 0.0
            if strategy != "none":
                presynth_s += synthesize_prompts(ahead, DEFAULT_SCRIPT, [])["presynth_seconds"]
            for index, (digit, context) in enumerate(contacts):
                if strategy == "ahead":  # what a periodic presynthesize(campaign_id) keeps ahead of the dialler
                    window = [c for _, c in contacts[index : index + args.ahead]]
                    presynth_s += synthesize_prompts(ahead, DEFAULT_SCRIPT, window)["presynth_seconds"]
                speaker = Speaker(_engines(), cache, on_lookup=lambda hit, c=counts: c.__setitem__(hit, c[hit] + 1))
                _talk(digit, context, speaker, persona_voice, whisper)
            lookups = counts[True] + counts[False]
            rows.append(
                [
                    {
                        "none": "none (synthesised on first use)",
                        "static": "static prompts before dialling",
                        "ahead": f"static + personalised for the next {args.ahead} contacts",
                    }[strategy],
                    lookups,
                    counts[True],
                    f"**{100 * counts[True] / lookups:.1f}**",
                    f"{presynth_s:.1f}",
                ]
            )
    headers = ["pre-synthesis", "prompts spoken", "cache hits", "hit rate %", "pre-synthesis time s"]
    note = (
        f"{args.contacts} contacts (personas {digits} in turn, each a different first name) on the default script "
        "(personalised greeting and re-prompt, static endings); one prompt cache per strategy, starting empty. "
        "The same figures are counted live per campaign in Redis (`campaigns.prompt_stats.cache_stats`). "
        f"{machine}."
    )
    write_block("campaign", "Prompt cache hit rate during a campaign", command, note, table(headers, rows))
