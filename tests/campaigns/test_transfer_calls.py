"""A dry-run campaign with a transfer node, dialled by place_call on the simulated carrier (the virtual switch's
transfer: the target number's persona answers, is busy...). The same script a trunk campaign runs; real piper and
whisper hear the virtual callee say yes."""

import copy
import datetime as dt

import pytest

from campaigns.limits import client as redis_client
from campaigns.models import CallAttempt, Campaign, Disposition
from campaigns.services import calls
from pipeline.script import DEFAULT_SCRIPT
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

NOON_NEW_YORK = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clean_limits():
    for key in redis_client().scan_iter("limit:campaign:*"):
        redis_client().delete(key)


def script(agent: str, mode: str = "cold") -> dict:
    result = copy.deepcopy(DEFAULT_SCRIPT)
    result["nodes"]["ask_attend"]["on"]["affirm"] = "agent"
    result["nodes"]["agent"] = {
        "type": "transfer", "say": "Please hold.", "to": agent, "otherwise": "nobody_free", "mode": mode,
    }  # fmt: skip
    result["nodes"]["nobody_free"] = {"type": "end", "say": "Nobody is free.", "outcome": "callback_requested"}
    return result


@pytest.mark.parametrize(
    ("agent", "status", "disposition"),
    [("+12025550191", "connected", Disposition.TRANSFERRED), ("+12025550196", "busy", Disposition.CALLBACK_REQUESTED)],
)
def test_dry_run_transfer(tenant, agent, status, disposition):
    campaign = CampaignFactory(tenant=tenant, status=Campaign.Status.RUNNING, script=script(agent), retry_policy={})
    contact = ContactFactory(campaign=campaign, phone="+12025550101")  # the persona who says yes
    attempt = CallAttemptFactory(contact=contact, status=CallAttempt.Status.QUEUED)
    assert calls.place_call(attempt.id, now=NOON_NEW_YORK) == "ended"
    assert calls.finalize_call(attempt.id, now=NOON_NEW_YORK)
    attempt.refresh_from_db()
    nodes = list(attempt.turns.order_by("index").values_list("node", flat=True))
    transfer = (attempt.transfer_target, attempt.transfer_status, attempt.disposition)
    assert transfer == (agent, status, disposition), nodes
    assert attempt.analysis["transfer"]["ended_ms"] - attempt.analysis["transfer"]["started_ms"] == 3000
    assert nodes[-1] == ("agent" if status == "connected" else "nobody_free")


@pytest.mark.parametrize(
    ("agent", "status", "disposition"),
    [("+12025550191", "connected", Disposition.TRANSFERRED), ("+12025550196", "busy", Disposition.CALLBACK_REQUESTED)],
)
def test_dry_run_warm_transfer(tenant, agent, status, disposition):
    """Warm: the robot dials the virtual agent itself; one who answers hears the summary and is bridged."""
    campaign = CampaignFactory(
        tenant=tenant, status=Campaign.Status.RUNNING, script=script(agent, "warm"), retry_policy={}
    )
    contact = ContactFactory(campaign=campaign, phone="+12025550101")
    attempt = CallAttemptFactory(contact=contact, status=CallAttempt.Status.QUEUED)
    assert calls.place_call(attempt.id, now=NOON_NEW_YORK) == "ended"
    assert calls.finalize_call(attempt.id, now=NOON_NEW_YORK)
    attempt.refresh_from_db()
    record = attempt.analysis["transfer"]
    assert (record["mode"], attempt.transfer_status, attempt.disposition) == ("warm", status, disposition), record
    if status == "connected":
        assert record["agent_answered_ms"] < record["bridged_ms"] < record["ended_ms"]
