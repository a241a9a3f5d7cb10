"""Calls to the robot (telephony.sip.inbound) from sipp as the caller on 127.0.0.1: answered with audio both ways
and the robot's BYE, the caller's number or its absence (withheld), a caller who gives up (CANCEL before the
answer), and an INVITE flood from one source held to its limit while the refused calls are still answered."""

from __future__ import annotations

import numpy as np
import pytest

from telephony.audio import frames, rms_dbfs
from telephony.interface import SILENCE_FRAME
from telephony.sip import SipInbound, TrunkConfig

pytest.register_assert_rewrite("tests.support.sip.peers")
from tests.support.sip.peers import free_block, scenario_passed, start_sipp  # noqa: E402

ROBOT = "+12025550100"


@pytest.fixture
def inbound():
    """The robot listening on a free port of 127.0.0.1 (a low flood limit, so the test floods quickly)."""
    base = free_block(12)
    trunk = TrunkConfig(host="127.0.0.1", port=5060, caller_id=ROBOT, local_host="127.0.0.1", local_port=base)
    listener = SipInbound(trunk, rtp_port_range=(base + 2, base + 12), per_source=5, window=10, decide_within=3)
    listener.start()
    listener.port = base
    yield listener
    listener.stop()


def caller(tmp_path, peers, inbound, scenario: str, calling: str, calls: int = 1, extra: tuple = (), **keys):
    keys = {"called": ROBOT, "caller": calling, "privacy_header": "Subject: hello", **keys}
    peer, _ = start_sipp(tmp_path, scenario, keys, calls, extra=(f"127.0.0.1:{inbound.port}", *extra))
    peers.append(peer)
    return peer


def test_a_call_in_is_answered_with_audio_both_ways(tmp_path, peers, inbound):
    peer = caller(tmp_path, peers, inbound, "call_in.xml", "+12025550123")
    incoming = inbound.next_call(timeout=5)
    assert incoming is not None
    assert (incoming.caller, incoming.called, incoming.source[0]) == ("+12025550123", ROBOT, "127.0.0.1")
    call = incoming.answer()
    assert call is not None and call.codec == "PCMU", incoming.detail
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)).astype(np.int16)
    heard = [call.exchange(chunk) for chunk in frames(tone) + [SILENCE_FRAME] * 25]
    assert sum(rms_dbfs(f.pcm) > -30 for f in heard) >= 30  # sipp echoes our tone back: media both ways
    call.hangup()
    scenario_passed(peer)  # sipp got its 200, ACKed, and received our BYE


def test_a_withheld_number_is_none(tmp_path, peers, inbound):
    peer = caller(tmp_path, peers, inbound, "call_in.xml", "anonymous", privacy_header="Privacy: id")
    incoming = inbound.next_call(timeout=5)
    assert incoming.caller is None and incoming.called == ROBOT
    incoming.answer().hangup()
    scenario_passed(peer)


def test_a_caller_who_gives_up_before_the_answer(tmp_path, peers, inbound):
    peer = caller(tmp_path, peers, inbound, "call_in_cancel.xml", "+12025550123")
    incoming = inbound.next_call(timeout=5)
    scenario_passed(peer)  # 200 to the CANCEL, 487 to the INVITE
    assert incoming.answer() is None and "no longer offered" in incoming.detail


def test_undecided_call_is_refused_480(tmp_path, peers, inbound):
    peer = caller(tmp_path, peers, inbound, "reject_in.xml", "+12025550123", code="480")
    assert inbound.next_call(timeout=5) is not None  # taken, never answered: the gate refuses it after 3 s
    scenario_passed(peer)


def test_invite_from_an_address_other_than_the_trunks_is_forbidden(tmp_path, peers):
    base = free_block(12)
    trunk = TrunkConfig(host="127.0.0.1", caller_id=ROBOT, local_host="127.0.0.1", local_port=base)
    listener = SipInbound(trunk, rtp_port_range=(base + 2, base + 12), allowed_sources=frozenset({"192.0.2.7"}))
    listener.start()
    listener.port = base
    try:
        peer = caller(tmp_path, peers, listener, "reject_in.xml", "+12025550123", code="403")
        scenario_passed(peer)
        assert listener.next_call(timeout=0.5) is None  # never offered to the product
    finally:
        listener.stop()


def test_invite_flood_from_one_source_is_held_to_its_limit(tmp_path, peers, inbound):
    """30 INVITEs at 50/s while a call is up: the call's audio goes on undisturbed, 4 more calls are offered (the
    limit is 5 per 10 s, the live call was one), the other 26 get 503 without reaching the product."""
    (tmp_path / "live").mkdir()
    live_peer = caller(tmp_path / "live", peers, inbound, "call_in.xml", "+12025550111")
    live = inbound.next_call(timeout=5).answer()
    (tmp_path / "flood").mkdir()
    peer = caller(tmp_path / "flood", peers, inbound, "call_in_flood.xml", "+12025550123", calls=30, extra=("-r", "50"))
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(8000 * 3) / 8000)).astype(np.int16)
    heard = [live.exchange(chunk) for chunk in frames(tone)]  # 3 s of audio while the flood arrives
    underruns = live.stats["underruns"]  # ticks our side had nothing to send: the robot's audio kept up
    offered = []
    while (incoming := inbound.next_call(timeout=2)) is not None:
        offered.append(incoming)
        incoming.reject(486, "Busy Here")
    scenario_passed(peer)  # every INVITE got a final response (503 or 486) and was ACKed
    assert len(offered) == 4 and inbound.gate.refused_flood == 26
    assert sum(rms_dbfs(f.pcm) > -30 for f in heard) >= 130  # the echo of our tone kept coming back
    assert underruns <= 5 and live.end_reason is None
    live.hangup()
    scenario_passed(live_peer)
