"""Cold transfer by REFER (telephony.sip.refer) against real peers on 127.0.0.1.

baresip as the callee takes the REFER and calls the agent itself, reporting progress in NOTIFYs; sipp plays the
agent (answering, or busy) and, as the callee, refuses the REFER (403, 501) or accepts it and never reports.
Whatever happens short of CONNECTED, the call is still the robot's: audio keeps flowing and the robot's BYE ends it.
"""

from __future__ import annotations

import numpy as np
import pytest

from telephony.interface import SILENCE_FRAME, TransferStatus
from telephony.sip import SipCarrier, TrunkConfig

pytest.register_assert_rewrite("tests.support.sip.peers")
from tests.support.sip.peers import scenario_passed, start_baresip, start_sipp  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

RATE = 8000


def wait_transfer(call, transfer, limit_frames: int = 1500):
    """Exchange silence (the callee is on hold) until the transfer's result is known; (result, frames)."""
    frames = 0
    while transfer.result() is None and frames < limit_frames:
        call.exchange(SILENCE_FRAME)
        frames += 1
    return transfer.result(), frames


@pytest.fixture
def baresip_callee(tmp_path, peers):
    (tmp_path / "callee").mkdir()
    callee = start_baresip(tmp_path / "callee", peers, np.zeros(RATE, np.int16))
    carrier = SipCarrier(
        TrunkConfig(host="127.0.0.1", port=callee.sip_port, caller_id="+12025550100"),
        rtp_port_range=(callee.rtp_base, callee.rtp_base + 4),
    )
    return callee, carrier


def agent(tmp_path, peers, scenario: str, keys: dict[str, str] | None = None):
    (tmp_path / "agent").mkdir()
    peer, _ = start_sipp(tmp_path / "agent", scenario, keys)
    peers.append(peer)
    return peer


def test_baresip_takes_the_refer_and_the_agent_answers(tmp_path, peers, baresip_callee):
    callee, carrier = baresip_callee
    desk = agent(tmp_path, peers, "answer.xml")
    call = carrier.dial("callee", "", ring_timeout=5).call
    assert call is not None
    for _ in range(10):
        call.exchange(SILENCE_FRAME)
    transfer = call.transfer(f"sip:agent@127.0.0.1:{desk.sip_port}", timeout=15)
    result, _ = wait_transfer(call, transfer)
    assert result is not None and result.status is TransferStatus.CONNECTED, result
    assert result.sip_code == 200 and transfer.accepted_code == 202
    assert transfer.progress[-1] == 200 and all(code < 200 for code in transfer.progress[:-1])
    # The agent really got the call, from the callee's phone (sipp logs it), and baresip says it is connected.
    assert wait_for(lambda: "Call established: sip:agent@" in callee.output(), 5), callee.output()[-2000:]
    log = next((tmp_path / "agent").glob("answer_*_messages.log")).read_text(errors="replace")
    assert f"INVITE sip:agent@127.0.0.1:{desk.sip_port}" in log
    call.hangup()


def test_busy_agent_leaves_the_call_with_the_robot(tmp_path, peers, baresip_callee):
    callee, carrier = baresip_callee
    desk = agent(tmp_path, peers, "reject.xml", {"code": "486", "reason": "Busy Here"})
    call = carrier.dial("callee", "", ring_timeout=5).call
    transfer = call.transfer(f"sip:agent@127.0.0.1:{desk.sip_port}", timeout=15)
    result, _ = wait_transfer(call, transfer)
    assert result is not None and (result.status, result.sip_code) == (TransferStatus.BUSY, 486), result
    scenario_passed(desk)  # baresip ACKed the agent's 486
    for _ in range(50):  # still our call: a second of audio, no CallEnded
        call.exchange(SILENCE_FRAME)
    assert call.end_reason is None
    call.hangup()


@pytest.mark.parametrize(("code", "reason"), [(403, "Forbidden"), (501, "Not Implemented")])
def test_refer_refused_by_the_callee_side(sipp, code, reason):
    carrier, peer = sipp("refer_refused.xml", {"code": str(code), "reason": reason})
    call = carrier.dial("+12025550123", "", ring_timeout=5).call
    transfer = call.transfer("+12025550199", timeout=10)
    result, frames = wait_transfer(call, transfer)
    assert result is not None and (result.status, result.sip_code) == (TransferStatus.REFUSED, code), result
    assert str(code) in result.detail and frames < 50  # known at once, not after the timeout
    for _ in range(25):
        call.exchange(SILENCE_FRAME)
    call.hangup()
    scenario_passed(peer)  # the call went on to our BYE


def test_notify_that_never_comes_ends_in_no_report(sipp):
    carrier, peer = sipp("refer_silent.xml")
    call = carrier.dial("+12025550123", "", ring_timeout=5).call
    transfer = call.transfer("+12025550199", timeout=2)
    result, frames = wait_transfer(call, transfer)
    assert result is not None and result.status is TransferStatus.NO_REPORT, result
    assert transfer.accepted_code == 202 and "no final NOTIFY within 2 s" in result.detail
    assert 90 <= frames <= 110  # 2 s of 20 ms frames
    log = next(peer.log.parent.glob("refer_silent_*_messages.log")).read_text(errors="replace")
    refer = log[log.index("REFER sip:") :].split("\n\n")[0]
    assert "Refer-To: <sip:+12025550199@127.0.0.1>" in refer and "Referred-By: <sip:+12025550100@127.0.0.1>" in refer
    call.hangup()
    scenario_passed(peer)
