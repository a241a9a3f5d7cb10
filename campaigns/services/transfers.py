"""Hand-offs to a person, as the attempt stores them (the conversation's record: pipeline.handoff)."""

from __future__ import annotations

import datetime as dt


def transfer_fields(record: dict | None, answered_at: dt.datetime) -> dict:
    """The attempt's transfer columns from the conversation's record of its last transfer ({} without one).
    `started_ms` is media time since answer, so the moment is the answer time plus that."""
    if not record:
        return {}
    return {
        "transfer_target": str(record.get("target", ""))[:200],
        "transferred_at": answered_at + dt.timedelta(milliseconds=int(record.get("started_ms", 0))),
        "transfer_status": str(record.get("status", ""))[:20],
    }
