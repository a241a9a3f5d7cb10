"""docs/PERFORMANCE.md is shared by every benchmark: each one owns a section between its own two markers."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "PERFORMANCE.md"
INTRO = "# Performance\n\nFigures from `bench/`; each table names the command that produced it.\n"


def replace_section(start: str, end: str, body: str, doc: Path = DOC) -> None:
    """Put `body` between the `start` and `end` markers (appending the section if it is new); leave the rest."""
    text = doc.read_text() if doc.exists() else INTRO
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text)
