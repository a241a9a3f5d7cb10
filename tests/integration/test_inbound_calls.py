"""Calls to a campaign's caller id, product level: campaigns.services.inbound.take_call on calls that real peers on
127.0.0.1 place to the robot (baresip dialling in and talking, sipp calling in with a withheld number or being
refused). Real PostgreSQL, Redis, piper and whisper.
"""

from __future__ import annotations

import datetime as dt
import io
import threading

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from campaigns.limits import client as redis_client
from campaigns.models import CallAttempt, Campaign, Disposition, DoNotCall, Trunk
from campaigns.services import analysis
from campaigns.services.inbound import WHO_IS_CALLING, take_call
from pipeline.script import validate_script
from telephony.sip import SipInbound, TrunkConfig
from tests.factories import CampaignFactory, ContactFactory, TenantFactory

pytest.register_assert_rewrite("tests.support.sip.peers")
from tests.support.sip.peers import (  # noqa: E402
    RATE,
    baresip_command,
    free_block,
    scenario_passed,
    start_baresip,
    start_sipp,
)

pytestmark = pytest.mark.django_db(transaction=True)

ROBOT = "+12025550100"
CALLER = "+12025550123"


@pytest.fixture(autouse=True)
def _clean_limits(settings):
    settings.TELEPHONY_PROVIDER = "sip"
    for pattern in ("limit:trunk:*", "limit:inbound:*", "limit:campaign:*"):
        for key in redis_client().scan_iter(pattern):
            redis_client().delete(key)


@pytest.fixture
def listening(settings):
    base = free_block(14)
    settings.RTP_PORT_RANGE = (base + 2, base + 12)
    config = TrunkConfig(host="127.0.0.1", caller_id=ROBOT, local_host="127.0.0.1", local_port=base)
    inbound = SipInbound(config, rtp_port_range=settings.RTP_PORT_RANGE, decide_within=30)
    inbound.start()
    inbound.port = base
    yield inbound
    inbound.stop()


def campaign_on_trunk(tenant, **trunk_fields) -> Campaign:
    trunk = Trunk.objects.create(tenant=tenant, name="loopback", host="127.0.0.1", caller_id=ROBOT, **trunk_fields)
    return CampaignFactory(
        tenant=tenant, trunk=trunk, caller_id=ROBOT, dry_run=False, status=Campaign.Status.RUNNING, name="flu shots",
        window_start=dt.time(0, 0), window_end=dt.time(23, 59, 59),
    )  # fmt: skip


def test_the_who_is_calling_script_is_valid():
    validate_script(WHO_IS_CALLING)


@pytest.mark.slow
def test_a_contact_calling_back_can_opt_out_at_once(tenant, tmp_path, peers, listening, piper, whisper):
    campaign = campaign_on_trunk(tenant)
    contact = ContactFactory(campaign=campaign, phone=CALLER, first_name="Anna")
    other = campaign_on_trunk(TenantFactory())  # another tenant's campaign with the same caller id: not chosen
    speech = np.concatenate(
        [np.zeros(2 * RATE, np.int16), piper.synthesize("Stop calling me and remove me from your list.")]
    )
    phone = start_baresip(tmp_path, peers, speech, quit_after=60, user=CALLER)
    baresip_command(phone, "dial", f"sip:{ROBOT}@127.0.0.1:{listening.port}")
    incoming = listening.next_call(timeout=10)
    assert (incoming.caller, incoming.called) == (CALLER, ROBOT)
    attempt = CallAttempt.objects.get(id=take_call(incoming, campaign.trunk_id))

    transcript = [(t.speaker, t.text, t.intent) for t in attempt.turns.order_by("index")]
    assert (attempt.direction, attempt.caller, attempt.contact_id) == ("inbound", CALLER, contact.id)
    assert attempt.campaign_id == campaign.id != other.id
    assert (attempt.status, attempt.disposition) == (CallAttempt.Status.FINALIZED, Disposition.OPTED_OUT), transcript
    assert transcript[0][1].startswith("Hello Anna")  # greeted as that contact of that campaign
    assert DoNotCall.objects.filter(tenant=tenant, phone=CALLER).exists()
    assert not DoNotCall.objects.filter(tenant=other.tenant).exists()
    assert attempt.recording and attempt.talk_ms > 2000


@pytest.mark.slow
def test_a_withheld_number_hears_who_is_calling(tenant, tmp_path, peers, listening, piper, whisper):
    """baresip calling as `anonymous` (the number withheld) and saying nothing: who called, asked twice, goodbye.
    (sipp's RTP echo would play the robot's own "say stop calling" back to it: a silent caller instead.)"""
    campaign = campaign_on_trunk(tenant)
    phone = start_baresip(tmp_path, peers, np.zeros(RATE, np.int16), pad_seconds=80, quit_after=90, user="anonymous")
    baresip_command(phone, "dial", f"sip:{ROBOT}@127.0.0.1:{listening.port}")
    incoming = listening.next_call(timeout=10)
    assert incoming.caller is None
    attempt = CallAttempt.objects.get(id=take_call(incoming, campaign.trunk_id))
    turns = list(attempt.turns.order_by("index"))
    assert (attempt.direction, attempt.caller, attempt.contact_id) == ("inbound", "", None)
    assert turns[0].text.startswith(f"Hello, this is the automated line of {tenant.name}")
    assert "flu shots" in turns[0].text
    assert attempt.disposition == Disposition.COMPLETED and attempt.end_reason == "robot_hangup"
    assert [t.node for t in turns][-1] == "goodbye"
    # Post-call analysis (queued by take_call) works on a call without a contact.
    analysis.analyze_call(attempt.id)
    attempt.refresh_from_db()
    assert attempt.analysis["duration_ms"] == pytest.approx(attempt.talk_ms, abs=250)


@pytest.mark.parametrize(
    ("limits", "key"), [({"max_inbound_calls": 0}, "inbound:"), ({"max_concurrent_calls": 0}, "trunk:")]
)
def test_over_the_trunks_inbound_cap_is_refused_and_recorded(tenant, tmp_path, peers, listening, limits, key):
    """The trunk's inbound cap, and its channel limit (shared with outbound calls), both refuse a call with 486."""
    campaign = campaign_on_trunk(tenant, **limits)
    keys = {"called": ROBOT, "caller": CALLER, "code": "486"}
    peer, _ = start_sipp(tmp_path, "reject_in.xml", keys, extra=(f"127.0.0.1:{listening.port}",))
    peers.append(peer)
    attempt = CallAttempt.objects.get(id=take_call(listening.next_call(timeout=10), campaign.trunk_id))
    scenario_passed(peer)
    assert (attempt.direction, attempt.dial_status, attempt.sip_code) == ("inbound", "rejected", 486)
    assert attempt.disposition == Disposition.FAILED and key in attempt.error
    assert attempt.contact_id is None  # the caller is no contact of this campaign


def test_a_number_no_campaign_uses_is_not_found(tenant, tmp_path, peers, listening):
    campaign = campaign_on_trunk(tenant)
    keys = {"called": "+12025550999", "caller": CALLER, "code": "404"}
    peer, _ = start_sipp(tmp_path, "reject_in.xml", keys, extra=(f"127.0.0.1:{listening.port}",))
    peers.append(peer)
    assert take_call(listening.next_call(timeout=10), campaign.trunk_id) is None
    scenario_passed(peer)
    assert not CallAttempt.objects.exists()


def test_answer_calls_command_takes_calls_from_the_trunk(tenant, tmp_path, peers):
    """The command as deployed: listens for the trunk, hands each call to take_call (here a number no campaign
    uses: 404), and stops after --calls."""
    campaign = campaign_on_trunk(tenant)
    port = free_block(4)
    done = threading.Thread(
        target=call_command, args=["answer_calls"],
        kwargs={"trunk": campaign.trunk_id, "port": port, "host": "127.0.0.1", "calls": 1, "stdout": io.StringIO()},
    )  # fmt: skip
    done.start()
    keys = {"called": "+12025550999", "caller": CALLER, "code": "404"}
    peer, _ = start_sipp(tmp_path, "reject_in.xml", keys, extra=(f"127.0.0.1:{port}",))
    peers.append(peer)
    scenario_passed(peer)
    done.join(10)
    assert not done.is_alive()
    with pytest.raises(CommandError, match="No trunk 999999"):
        call_command("answer_calls", trunk=999999)
