"""The README's promises under faults: a campaign through real workers while its PostgreSQL and Redis are
restarted and paused and its workers are killed (tests/faults/campaign.py). `make test` runs it at
FAULT_CONTACTS=200; `make test-faults` at 2,000. The figures are printed and kept in test-artifacts/faults.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def figures():
    contacts = int(os.environ.get("FAULT_CONTACTS", "200"))
    result = subprocess.run(
        [sys.executable, "-m", "tests.faults.campaign", "--contacts", str(contacts)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    figures = json.loads(result.stdout)
    print(result.stderr, json.dumps(figures, indent=2), sep="\n")
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "faults.json").write_text(json.dumps(figures, indent=2))
    return figures


def test_the_campaign_completes_and_every_contact_is_accounted_for(figures):
    assert figures["campaign_completed"], figures
    assert figures["contacts_unaccounted"] == 0 and figures["open_attempts"] == 0, figures
    assert figures["worker_lost_attempts"] > 0, "no call was live when a worker died: the faults missed the calls"


@pytest.mark.parametrize(
    "figure",
    [
        "attempts_dialled_twice",
        "contacts_rung_while_live",
        "rows_finalized_twice",
        "moments_above_channel_limit",
        "do_not_call_dialled",
        "out_of_window_dialled",
    ],
)
def test_no_promise_is_broken(figures, figure):
    assert figures[figure] == 0, figures


def test_every_worker_survived_what_it_was_not_killed_by(figures):
    assert all(figures["workers_alive_at_end"].values()), figures["workers_alive_at_end"]
