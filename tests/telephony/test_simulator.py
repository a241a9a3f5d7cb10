"""The simulated carrier's call detail records: every dial, answered or not, leaves a start and an end line."""

import json

import numpy as np

from telephony.interface import SILENCE_FRAME, DialStatus
from telephony.simulator import SimulatedCarrier


def quiet_voice(text: str) -> np.ndarray:
    return np.zeros(800, np.int16)


def test_every_dial_leaves_a_start_and_an_end_record(tmp_path):
    cdr = tmp_path / "cdr.jsonl"
    carrier = SimulatedCarrier(quiet_voice, cdr_path=cdr)
    assert carrier.dial("+12025550106", "", 30).status is DialStatus.BUSY
    answered = carrier.dial("+12025550101", "", 30)
    assert answered.status is DialStatus.ANSWERED
    answered.call.exchange(SILENCE_FRAME)
    lines = [json.loads(line) for line in cdr.read_text().splitlines()]
    assert [(r["event"], r["number"]) for r in lines] == [
        ("start", "+12025550106"),
        ("end", "+12025550106"),
        ("start", "+12025550101"),
    ]
    answered.call.hangup()
    answered.call.hangup()  # idempotent: one end record
    lines = [json.loads(line) for line in cdr.read_text().splitlines()]
    assert [r["event"] for r in lines] == ["start", "end", "start", "end"]
    assert lines[2]["call"] == lines[3]["call"] != lines[0]["call"]
    assert lines[3]["t"] >= lines[2]["t"]


def test_without_a_cdr_path_nothing_is_written(tmp_path):
    carrier = SimulatedCarrier(quiet_voice)
    carrier.dial("+12025550106", "", 30)
    assert list(tmp_path.iterdir()) == []
