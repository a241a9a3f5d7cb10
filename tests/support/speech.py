"""Checking what a recogniser heard against what was said, with a stated tolerance.

Synthesised speech is not the same on every machine (piper's samples and whisper's decoding differ with the CPU),
so a test that needs exact words breaks elsewhere ("Acme Clinic" heard as "acne clinic" or "atney clinic"). These
helpers ask instead for most of the words, in order.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from pipeline.nlp import normalise

# At least four words in five, in order: one misheard word in a short phrase passes, a wrong prompt does not.
WORDS_HEARD = 0.8


def share_of_words_heard(said: str, heard: str) -> float:
    """The share of `said`'s words found, in order, in `heard` (1.0: all of them)."""
    said_words, heard_words = normalise(said).split(), normalise(heard).split()
    if not said_words:
        return 1.0
    matched = SequenceMatcher(a=said_words, b=heard_words, autojunk=False).get_matching_blocks()
    return sum(block.size for block in matched) / len(said_words)


def assert_heard(said: str, heard: str, at_least: float = WORDS_HEARD) -> None:
    share = share_of_words_heard(said, heard)
    assert share >= at_least, f"heard {share:.0%} of {said!r} (needs {at_least:.0%}) in {heard!r}"
