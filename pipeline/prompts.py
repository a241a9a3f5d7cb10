"""What a script can say, and rendering it into a speaker's cache ahead of the calls.

Plain functions over a script dict and a Speaker: campaigns.services.presynthesis picks the contacts and stores
the figures; the speech benchmarks call the same functions in memory.
"""

from __future__ import annotations

import logging
import time

from pipeline.languages import pack
from pipeline.script import render, template_fields
from pipeline.tts import Speaker, TTSError

log = logging.getLogger(__name__)


def script_prompts(script: dict, language: str = "en") -> list[tuple[str, str]]:
    """(node, prompt template) for everything the robot can say, re-prompts included, in script order."""
    prefix = pack(language).reprompt_prefix
    prompts = []
    for name, node in script["nodes"].items():
        say = node.get("say", "")
        if not say:
            continue
        prompts.append((name, say))
        if node["type"] == "ask":
            prompts.append((name, prefix.replace("{", "{{").replace("}", "}}") + say))
    return prompts


def split_prompts(script: dict, language: str = "en") -> tuple[list[str], list[str]]:
    """(static texts, templates with placeholders)."""
    static, personal = [], []
    for _, template in script_prompts(script, language):
        if template_fields(template):
            personal.append(template)
        else:
            text = render(template, {})
            if text not in static:
                static.append(text)
    return static, personal


def synthesize_prompts(speaker: Speaker, script: dict, contexts: list[dict]) -> dict:
    """Static prompts plus each context's personal ones into the speaker's cache; figures of the work done."""
    static, templates = split_prompts(script, speaker.language)
    personal: list[str] = []
    for context in contexts:
        for template in templates:
            text = render(template, context)
            if text not in personal:
                personal.append(text)
    hits, misses, failed = speaker.hits, speaker.misses, 0
    started = time.monotonic()
    for text in static + personal:
        try:
            speaker.synthesize(text)
        except TTSError as exc:  # one bad prompt does not stop the others; the call will try again live
            failed += 1
            log.warning("pre-synthesis of %r failed: %s", text[:60], exc)
    return {
        "presynth_failed": failed,
        "presynth_static": len(static),
        "presynth_personal": len(personal),
        "presynth_contacts": len(contexts),
        "presynth_synthesized": speaker.misses - misses,
        "presynth_already_cached": speaker.hits - hits,
        "presynth_seconds": round(time.monotonic() - started, 3),
    }
