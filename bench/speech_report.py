"""Markdown tables for the speech benchmarks, written into their own blocks of docs/PERFORMANCE.md.

The "Speech" section sits between `<!-- speech:start -->` and `<!-- speech:end -->`; each benchmark owns a
block inside it (`<!-- speech:NAME -->` ... `<!-- /speech:NAME -->`) and rewrites only that block, so other
sections of the file (and other benchmarks' tables) stay as they are.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "PERFORMANCE.md"
ORDER = [
    "asr-whisper-g711",
    "asr-whisper-full-g711",
    "asr-whisper-noisy",
    "asr-vosk-g711",
    "tts",
    "latency",
    "latency-realtime",
    "campaign",
]
INTRO = """## Speech

Measured on this project's 2-core machine, which other engineers use at the same time (their test suites and
benchmarks run alongside), so every timing is noisy: figures are medians (P90/P99 where asked), and each block says
the load average when it ran. Each block names the command that produced it; `bench/speech.py` says how.
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[index]


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(headers) - 1)) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_block(name: str, title: str, command: str, note: str, body: str, doc: Path = DOC) -> None:
    day = dt.datetime.now(dt.UTC).date().isoformat()
    block = (
        f"<!-- speech:{name} -->\n### {title}\n\n"
        f"Command: `{command}` ({day})\n\n{note}\n\n{body}\n<!-- /speech:{name} -->"
    )
    text = doc.read_text() if doc.exists() else "# Performance\n"
    if "<!-- speech:start -->" not in text:
        text = text.rstrip("\n") + f"\n\n<!-- speech:start -->\n{INTRO}\n<!-- speech:end -->\n"
    start, end = text.index("<!-- speech:start -->"), text.index("<!-- speech:end -->")
    section = text[start:end]
    pattern = re.compile(rf"<!-- speech:{re.escape(name)} -->.*?<!-- /speech:{re.escape(name)} -->", re.S)
    if pattern.search(section):
        section = pattern.sub(lambda _: block, section)
    else:
        later = (
            [n for n in ORDER[ORDER.index(name) + 1 :] if f"<!-- speech:{n} -->" in section] if name in ORDER else []
        )
        if later:
            at = section.index(f"<!-- speech:{later[0]} -->")
            section = section[:at] + block + "\n\n" + section[at:]
        else:
            section = section.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text[:start] + section + text[end:])
    print(f"{title}\n{body}")
