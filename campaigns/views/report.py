"""The campaign page's figures as display cards (label, value, hint): formatting lives here, not in templates."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from campaigns.selectors import CampaignStats, Progress

NONE = "–"


@dataclass(frozen=True)
class Card:
    key: str
    label: str
    value: str
    hint: str = ""


def percent(fraction: float | None) -> str:
    return NONE if fraction is None else f"{100 * fraction:.1f} %"


def milliseconds(value: float | None) -> str:
    return NONE if value is None else f"{value:.0f} ms"


def talk_time(ms: float | None) -> str:
    if ms is None:
        return NONE
    seconds = round(ms / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


def number(value: float | None, places: int = 2) -> str:
    return NONE if value is None else f"{value:.{places}f}"


def report_cards(stats: CampaignStats, progress: Progress, peak_hour: int) -> list[Card]:
    return [
        Card(
            "progress",
            _("Progress"),
            f"{progress.percent} %",
            f"{progress.contacts_done} of {progress.contacts} contacts",
        ),
        Card(
            "answer_rate",
            _("Answer rate"),
            percent(stats.answer_rate),
            f"{stats.answered} of {stats.dialled} dialled calls answered",
        ),
        Card(
            "completion_rate",
            _("Completion rate"),
            percent(stats.completion_rate),
            f"{stats.completed} answered calls ran the script to its end",
        ),
        Card("talk_time", _("Average talk time"), talk_time(stats.talk_ms_avg), "minutes:seconds, answered calls"),
        Card("attempts_per_contact", _("Attempts per contact"), number(stats.attempts_per_contact), "contacts dialled"),
        Card(
            "calls_per_hour",
            _("Calls per hour"),
            number(stats.calls_per_hour, 1),
            f"per hour with calls ({stats.active_hours}); peak {peak_hour}",
        ),
        Card(
            "turn_latency",
            _("Turn latency P50 / P99"),
            f"{milliseconds(stats.turn_latency_p50_ms)} / {milliseconds(stats.turn_latency_p99_ms)}",
            "end of callee speech to robot audio",
        ),
        Card(
            "asr_latency",
            _("ASR latency P50 / P99"),
            f"{milliseconds(stats.asr_latency_p50_ms)} / {milliseconds(stats.asr_latency_p99_ms)}",
            "end of speech to final text",
        ),
        Card(
            "asr_confidence",
            _("ASR confidence"),
            number(stats.asr_confidence_avg),
            "mean over callee turns (0 to 1)",
        ),
    ]
