"""Concurrent calls on a realistic mix of callees: how many one process carries, what limits it, and what it costs.

Like bench/sip_concurrency.py (one process, one thread per call, the product's Conversation over real SipCalls,
real whisper, piper prompts from the cache), but each call's callee is drawn from a mix (MIX below, seeded):
one-word answers, ~6 s answers, answers with a pause inside, callees who talk over the robot's question
(barge-in), callees who say nothing, and callees who hang up after two answers; five voices (piper `joe` at two
speeds, espeak-ng en-us, en-gb+f3, en-us+m3). Each profile is one sipp UAS on 127.0.0.1 playing its recorded
callee over RTP (the hang-up profile sends its own BYE).

Reported per level: turn latency (the product's Turn.response_latency_ms: end-of-turn decision to the robot's
next audio) and end of speech → robot audio (the endpointer's pause added turn by turn), ASR queue wait, answers
understood, why callee turns ended, CPU-seconds per minute of call, and the process's peak memory.

    .venv/bin/python -m bench.call_mix --levels 2 4                       # a quick look (shared machine)
    .venv/bin/python -m bench.call_mix --levels 20 40 60 80 --rounds 2 --write   # quiet machine
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import resource
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.doc import replace_section
from bench.sip_concurrency import (
    GOODBYE,
    NOW,
    QUESTIONS,
    RATE,
    SCENARIO,
    asr_pids,
    code_version,
    percentile,
    process_cpu_seconds,
    process_peak_rss_mb,
    run_calls,
    script,
    write_pcap,
)
from bench.speech_data import synthesize
from pipeline import nlp
from pipeline.asr import WhisperASR
from pipeline.conversation import Conversation
from pipeline.script import REPROMPT_PREFIX
from pipeline.tts import EspeakTTS, PiperTTS, PromptCache, Speaker
from telephony.sip import SipCarrier, TrunkConfig
from tests.support.sip.peers import Peer, free_block

START, END = "<!-- call-mix:start -->", "<!-- call-mix:end -->"
SLACK_S = 0.8
ASSUMED_RESPONSE_S = 1.2 + 1.0  # the longest end-of-turn wait + a generous robot response


@dataclass(frozen=True)
class Profile:
    name: str
    share: float
    voice: tuple[str, str]  # (engine, voice) for bench.speech_data.synthesize
    answers: tuple[tuple, ...]  # per question: text parts and pauses (ms); () says nothing
    barge_in_s: float | None = None  # answers this far into each question instead of after it
    hang_up_after: int | None = None  # sends BYE this many answers in
    expects: str = "affirm"


LONG = (
    "Well, I have to check with my wife first, because on Mondays we usually visit her mother, "
    "but I think it should be fine, yes."
)
MIX = [
    Profile("one word", 0.25, ("piper", "1.0"), (("Yes.",), ("Yes.",), ("Sure.",), ("Yes.",))),
    Profile("about 6 s", 0.15, ("piper", "1.3"), ((LONG,), ("Yes, I will bring it with me.",), (LONG,), ("Yes.",))),
    Profile(
        "pause inside",
        0.2,
        ("espeak", "en-us"),
        (("Yes,", 700, "but only after five."), ("Sure,", 500, "I can do that."), ("Yes.",), ("Yes,", 900, "please.")),
    ),
    Profile("barge-in", 0.15, ("espeak", "en-gb+f3"), (("Yes, I will.",),) * 4, barge_in_s=1.2),
    Profile("silence", 0.1, ("espeak", "en-us+m3"), ((), (), (), ()), expects=""),
    Profile("hang-up", 0.15, ("espeak", "en-us+m3"), (("Yes.",), ("Yes, I will.",), (), ()), hang_up_after=2),
]


def answer_audio(profile: Profile, parts: tuple) -> np.ndarray:
    pieces = [
        np.zeros(RATE * p // 1000, np.int16) if isinstance(p, int) else synthesize(*profile.voice, p) for p in parts
    ]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int16)


def callee_track(profile: Profile, speaker: Speaker) -> tuple[np.ndarray, int | None]:
    """The callee's side of the call, and when it hangs up (ms after the answer), if it does."""
    parts, hang_up_ms = [], None
    for i, (question, answer) in enumerate(zip(QUESTIONS, profile.answers, strict=True)):
        prompt_s = len(speaker(question)) / RATE
        wait = profile.barge_in_s if profile.barge_in_s else prompt_s + SLACK_S
        wait += ASSUMED_RESPONSE_S if i else 0.1
        audio = answer_audio(profile, answer)
        parts += [np.zeros(int(wait * RATE), np.int16), audio]
        if profile.hang_up_after == i + 1:
            hang_up_ms = int(sum(len(p) for p in parts) * 1000 / RATE) + 1500
            break
    parts.append(np.zeros(40 * RATE, np.int16))
    return np.concatenate(parts), hang_up_ms


def hang_up_scenario(pcap: Path, hang_up_ms: int) -> str:
    scenario = (Path(__file__).resolve().parent.parent / "tests/support/sip/callee_bye.xml").read_text()
    play = f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n  <pause milliseconds="{hang_up_ms}"/>'
    return scenario.replace('<pause milliseconds="[hangup_ms]"/>', play)


class Callees:
    """One sipp UAS and one carrier per profile."""

    def __init__(self, workdir: Path, speaker: Speaker, calls: int, n: int) -> None:
        self.peers, self.carriers = [], {}
        for index, profile in enumerate(MIX):
            track, hang_up_ms = callee_track(profile, speaker)
            pcap = workdir / f"callee-{index}.pcap"
            write_pcap(pcap, track)
            base = free_block(8 + 4 * n)
            scenario = workdir / f"callee-{index}.xml"
            text = hang_up_scenario(pcap, hang_up_ms) if hang_up_ms else SCENARIO.replace("PCAP", str(pcap))
            scenario.write_text(text)
            cmd = ["sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(base), "-mi", "127.0.0.1"]
            cmd += ["-mp", str(base + 2), "-m", str(calls), "-l", str(n), "-nostdin", "-timeout", "900s"]
            self.peers.append(Peer(cmd, workdir, base, f"sipp-{index}"))
            ports = (base + 8, base + 8 + 4 * n)
            self.carriers[profile.name] = SipCarrier(TrunkConfig(host="127.0.0.1", port=base), rtp_port_range=ports)

    def stop(self) -> None:
        for peer in self.peers:
            peer.stop()


def run_level(n: int, rounds: int, speaker: Speaker, asr: WhisperASR, workdir: Path, seed: int) -> dict:
    rng = random.Random(seed + n)
    plan = [rng.choices(MIX, weights=[p.share for p in MIX])[0] for _ in range(n * rounds)]
    callees = Callees(workdir, speaker, n * rounds, n)
    the_script = script()
    lock = threading.Lock()
    found = collections.defaultdict(list)
    mix, endings, errors = collections.Counter(p.name for p in plan), collections.Counter(), []
    talk_s = []
    turn_period = len(speaker(QUESTIONS[0])) / RATE + SLACK_S + 1.0 + ASSUMED_RESPONSE_S

    def slot(i: int) -> None:
        time.sleep(i * turn_period / n)
        for r in range(rounds):
            profile = plan[i * rounds + r]
            result = callees.carriers[profile.name].dial(f"+1202555{i:04d}", "+12025550100", ring_timeout=5)
            if result.call is None:
                with lock:
                    errors.append(f"dial: {result.status} {result.detail}")
                continue
            outcome = Conversation(result.call, the_script, {}, speaker, asr, NOW).run()
            result.call.hangup()
            turns = outcome.turns
            with lock:
                talk_s.append(outcome.recorder.duration_ms / 1000)
                found["latency"] += [t.response_latency_ms for t in turns if t.response_latency_ms is not None]
                for callee, robot in zip(turns, turns[1:], strict=False):
                    if callee.speaker == "callee" and callee.pause_ms is not None and robot.response_latency_ms:
                        found["end_to_audio"].append(callee.pause_ms + robot.response_latency_ms)
                for t in turns:
                    if t.speaker != "callee":
                        continue
                    endings[t.end_of_turn or "?"] += 1
                    if t.asr_wait_ms is not None:
                        found["asr_wait"].append(t.asr_wait_ms)
                    if profile.expects:
                        found["understood"].append(t.intent == profile.expects)

    service = asr_pids(asr)
    asr_cpu = process_cpu_seconds(service)
    wall, cpu = run_calls(slot, n)
    asr_cpu = process_cpu_seconds(service) - asr_cpu
    cpu += asr_cpu  # the decodes done for these calls in the ASR service's processes
    callees.stop()
    call_minutes = sum(talk_s) / 60
    return {
        "n": n,
        "calls": len(talk_s),
        "mix": dict(mix),
        "understood": sum(found["understood"]) / max(len(found["understood"]), 1),
        "p50": percentile(found["latency"], 50),
        "p99": percentile(found["latency"], 99),
        "e2a_p50": percentile(found["end_to_audio"], 50),
        "e2a_p99": percentile(found["end_to_audio"], 99),
        "wait_p50": percentile(found["asr_wait"], 50),
        "wait_p99": percentile(found["asr_wait"], 99),
        "endings": dict(endings),
        "cpu_cores": cpu / wall,
        "asr_cores": asr_cpu / wall,
        "cpu_s_per_call_min": cpu / call_minutes if call_minutes else float("nan"),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # the peak so far: the run's
        "asr_rss_mb": process_peak_rss_mb(service),
        "load": os.getloadavg()[0],
        "wall": wall,
        "errors": errors,
    }


def report(rows: list[dict], command: str, args, code: str) -> str:
    mix = ", ".join(f"{p.name} {100 * p.share:.0f} %" for p in MIX)
    lines = [
        "## Concurrent calls, realistic mix",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d} on this project's 2-core machine (load average at the end of "
        "each level in the table; above about 2 means other work shared the CPU). One process, one thread per call; "
        f"whisper tiny.en int8 in an ASR service of {args.asr_processes} decode process(es), {args.asr_threads} "
        "thread(s) each (CPU and memory columns: the call process + the ASR service's processes); callee mix: "
        f"{mix}. Code: {code}.",
        "",
        f"Command: `{command}`",
        "",
        "| calls at once | calls | understood | turn latency P50 / P99 (ms) | end of speech → audio P50 / P99 (ms) "
        "| ASR wait P50 / P99 (ms) | turn endings | CPU (cores), of which ASR | CPU-s per call-minute "
        "| peak RSS calls + ASR (MB) | load |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        endings = ", ".join(f"{k} {v}" for k, v in sorted(r["endings"].items()))
        lines.append(
            f"| {r['n']} | {r['calls']} | {100 * r['understood']:.0f} % | {r['p50']:.0f} / {r['p99']:.0f} "
            f"| {r['e2a_p50']:.0f} / {r['e2a_p99']:.0f} | {r['wait_p50']:.0f} / {r['wait_p99']:.0f} | {endings} "
            f"| {r['cpu_cores']:.2f}, {r['asr_cores']:.2f} | {r['cpu_s_per_call_min']:.1f} "
            f"| {r['rss_mb']:.0f} + {r['asr_rss_mb']:.0f} | {r['load']:.1f} |"
        )
    errors = sorted({e for r in rows for e in r["errors"]})
    if errors:
        lines += ["", "Calls that failed: " + "; ".join(errors[:5]) + "."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--rounds", type=int, default=1, help="calls per slot, back to back")
    parser.add_argument("--asr-threads", type=int, default=1)
    parser.add_argument("--asr-processes", type=int, default=os.cpu_count(), help="ASR decode processes")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--stop-after", type=int, default=2, help="stop after this many levels over 1 s in a row")
    parser.add_argument("--write", action="store_true", help="replace the section in docs/PERFORMANCE.md")
    args = parser.parse_args()
    subprocess.run(["sipp", "-v"], capture_output=True, check=False)
    code = code_version()
    with tempfile.TemporaryDirectory(prefix="call-mix-") as tmp:
        workdir = Path(tmp)
        speaker = Speaker([PiperTTS(), EspeakTTS()], PromptCache(workdir / "tts"))
        for text in [*QUESTIONS, GOODBYE, *(REPROMPT_PREFIX + q for q in QUESTIONS)]:
            speaker(text)  # presynthesised, as a campaign's static prompts are
        asr = WhisperASR(threads=args.asr_threads, processes=args.asr_processes)
        asr.transcribe(np.zeros(RATE, np.int16))
        nlp.classify("yes", NOW)  # the answer classifier loads its model on first use: not inside a call
        rows, over = [], 0
        for n in args.levels:
            row = run_level(n, args.rounds, speaker, asr, workdir, args.seed)
            rows.append(row)
            print({k: v for k, v in row.items() if k != "errors"}, row["errors"][:3], flush=True)
            over = over + 1 if row["p99"] > 1000 else 0
            if over >= args.stop_after:
                break
    levels = " ".join(str(r["n"]) for r in rows)
    command = f".venv/bin/python -m bench.call_mix --levels {levels} --rounds {args.rounds}"
    command += f" --asr-processes {args.asr_processes} --asr-threads {args.asr_threads} --write"
    section = report(rows, command, args, code)
    print(section)
    if args.write:
        replace_section(START, END, section)


if __name__ == "__main__":
    main()
