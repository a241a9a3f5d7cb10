"""Rehearsal benchmark: how long an N-call rehearsal takes through a real Celery worker (2 processes), and how its
predicted dispositions match what the persona mix meant.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/robocall_bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        SECRET_KEY=bench .venv/bin/python -m bench.rehearsal --calls 200

Writes the "Rehearsals" section of docs/PERFORMANCE.md. The campaign uses the default script (with answering-
machine detection on, so machines can be told apart) and 50 contacts; the mix is the default one. The prompt
cache starts empty, as for a campaign rehearsed before its first start.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.doc import replace_section
from bench.orchestration import fresh_campaign, numbers, setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
START, END = "<!-- rehearsal:start -->", "<!-- rehearsal:end -->"


def run(calls: int, seed: int) -> tuple[float, dict]:
    from campaigns.models import Rehearsal
    from campaigns.services.imports import import_contacts
    from campaigns.services.rehearsals import DEFAULT_MIX, start_rehearsal
    from pipeline.script import DEFAULT_SCRIPT
    from project.celery import app
    from project.devservers import Worker

    script = {**DEFAULT_SCRIPT, "voicemail": {"action": "leave_message", "say": "Hello {first_name}, please call us."}}
    campaign = fresh_campaign("rehearsal bench", script=script)
    rows = "\n".join(f"{n},Pat{i},Lee" for i, n in enumerate(numbers(50)))
    import_contacts(campaign, f"phone,first_name,last_name\n{rows}\n".encode(), "bench.csv")
    app.control.purge()
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryDirectory() as tmp:
        env["TTS_CACHE_DIR"] = str(Path(tmp) / "tts-cache")
        worker = Worker(env, Path(tmp) / "worker.log", queues="dial,default", concurrency=2, name="bench", beat=False)
        try:
            worker.wait_ready()
            started = time.perf_counter()
            rehearsal = start_rehearsal(campaign, calls, DEFAULT_MIX, seed=seed)
            while Rehearsal.objects.get(id=rehearsal.id).status == Rehearsal.Status.RUNNING:
                if not worker.alive() or time.perf_counter() - started > 3600:
                    raise RuntimeError(f"rehearsal stalled:\n{worker.log_tail()}")
                time.sleep(0.5)
            elapsed = time.perf_counter() - started
        finally:
            worker.stop()
    report = Rehearsal.objects.get(id=rehearsal.id).report
    campaign.delete()
    return elapsed, report


def section(calls: int, elapsed: float, report: dict, cores: int) -> str:
    speedup = report["average_call_ms"] * calls / 1000 / elapsed
    deviation = max(abs(d["predicted_pct"] - d["expected_pct"]) for d in report["dispositions"])
    lines = [
        "## Rehearsals",
        "",
        "`python -m bench.rehearsal --calls 200` (real Celery worker, 2 processes, piper + whisper tiny.en, "
        f"virtual clock; {cores} cores; default script with voicemail detection, default mix, empty prompt cache):",
        "",
        f"- **{calls} calls in {elapsed:.0f} s** ({elapsed / calls:.2f} s a call; average call "
        f"{report['average_call_ms'] / 1000:.1f} s of line time, so ~{speedup:.0f}× faster than real time).",
        f"- **{report['matched']} of {calls} calls ({report['matched_pct']} %) ended with the disposition their "
        f"persona meant**; the largest gap between a disposition's predicted and intended share was "
        f"{deviation:.1f} points (the tolerance to expect from this mix and script).",
        "",
        "| disposition | mix meant | predicted |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {d['disposition']} | {d['expected']} ({d['expected_pct']} %) | {d['predicted']} ({d['predicted_pct']} %) |"
        for d in report["dispositions"]
    ]
    off = {name: p for name, p in report["personas"].items() if p["as_expected"] != p["calls"]}
    if off:
        lines += [
            "",
            "Personas not always handled as meant: "
            + "; ".join(f"{name} {p['as_expected']}/{p['calls']} (got {p['got']})" for name, p in sorted(off.items()))
            + ".",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print, do not update docs/PERFORMANCE.md")
    args = parser.parse_args()
    setup()
    elapsed, report = run(args.calls, args.seed)
    text = section(args.calls, elapsed, report, os.cpu_count() or 0)
    print(text)
    if not args.no_write:
        replace_section(START, END, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
