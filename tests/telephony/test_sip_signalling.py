"""SIP signalling of the user agent against real peers on 127.0.0.1 (sipp scenarios): final responses mapped to
dial statuses, ring timeout and CANCEL, digest auth, callee BYE, INVITE retransmission, session timers,
REGISTER, transports that refuse, caller id, the trunk smoke command.

The peers are started here as subprocesses and always killed in teardown. A missing peer fails the test.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from telephony.audio import frames, rms_dbfs
from telephony.interface import CallEnded, DialStatus, EndReason
from telephony.sip import SipCarrier, TrunkConfig, dial_status

pytest.register_assert_rewrite("tests.support.sip.peers")  # before importing it, so its asserts explain failures
from tests.support.sip.peers import RATE, read_wav  # noqa: E402
from tests.support.sip.peers import free_block as _free_block  # noqa: E402
from tests.support.sip.peers import scenario_passed as _scenario_passed  # noqa: E402
from tests.support.sip.peers import udp_bound as _udp_bound  # noqa: E402
from tests.support.sip.signals import chirp, segment_correlation, talk  # noqa: E402
from tests.support.waiting import wait_for  # noqa: E402

SCENARIOS = Path(__file__).resolve().parents[1] / "support" / "sip"


@pytest.mark.parametrize(
    ("code", "reason", "status"),
    [
        (486, "Busy Here", DialStatus.BUSY),
        (600, "Busy Everywhere", DialStatus.BUSY),
        (503, "Service Unavailable", DialStatus.FAILED),
        (404, "Not Found", DialStatus.INVALID_NUMBER),
        (603, "Decline", DialStatus.REJECTED),
        (480, "Temporarily Unavailable", DialStatus.NO_ANSWER),
    ],
)
def test_final_response_maps_to_dial_status_and_is_acked(sipp, code, reason, status):
    carrier, peer = sipp("reject.xml", {"code": str(code), "reason": reason}, transport="tcp" if code == 486 else "udp")
    result = carrier.dial("+12025550123", "", ring_timeout=5)
    assert (result.status, result.sip_code, result.call) == (status, code, None)
    assert str(code) in result.detail
    assert wait_for(lambda: not any(_udp_bound(p) for p in range(carrier._ports.start, carrier._ports.end, 2)), 1)
    _scenario_passed(peer)  # the scenario requires our ACK of the non-2xx final


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_ring_timeout_sends_cancel_and_reports_no_answer(sipp, transport):
    carrier, peer = sipp("ring_cancel.xml", transport=transport)
    started = time.monotonic()
    result = carrier.dial("+12025550123", "", ring_timeout=1.0)
    took = time.monotonic() - started
    assert (result.status, result.sip_code) == (DialStatus.NO_ANSWER, 487)
    assert 1.0 <= took < 2.0
    _scenario_passed(peer)  # CANCEL received, 487 ACKed


AUTH_401 = {"code": "401", "challenge": "WWW-Authenticate", "credentials": "Authorization", "verified": "auth_ok"}


AUTH_407 = {"code": "407", "challenge": "Proxy-Authenticate", "credentials": "Proxy-Authorization", "verified": "creds"}


@pytest.mark.parametrize("keys", [AUTH_401, AUTH_407], ids=["401", "407"])
def test_digest_challenge_is_answered_with_trunk_credentials(sipp, keys):
    carrier, peer = sipp("auth.xml", keys, username="robot", password="s3cret")
    result = carrier.dial("+12025550123", "", ring_timeout=5)
    assert (result.status, result.sip_code) == (DialStatus.ANSWERED, 200), result
    heard, _ = talk(result.call, chirp(500, 1500, 0.6), then_silence_frames=10)
    result.call.hangup()
    assert sum(rms_dbfs(f.pcm) > -30 for f in heard) > 10  # sipp echoes our audio back
    _scenario_passed(peer)


def test_wrong_credentials_are_rejected_not_retried_forever(sipp):
    carrier, peer = sipp("auth.xml", AUTH_401, username="robot", password="x")
    result = carrier.dial("+12025550123", "", ring_timeout=5)
    assert (result.status, result.sip_code) == (DialStatus.REJECTED, 403)
    _scenario_passed(peer)


def test_missing_credentials_fail_with_the_challenge_code(sipp):
    carrier, peer = sipp("reject.xml", {"code": "401", "reason": "Unauthorized"})
    result = carrier.dial("+12025550123", "", ring_timeout=5)
    assert (result.status, result.sip_code) == (DialStatus.FAILED, 401)
    assert "credentials" in result.detail
    _scenario_passed(peer)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_callee_bye_mid_prompt_ends_the_call(sipp, transport):
    carrier, peer = sipp("callee_bye.xml", {"hangup_ms": "800"}, transport=transport)
    result = carrier.dial("+12025550123", "", ring_timeout=5)
    assert result.status is DialStatus.ANSWERED
    call = result.call
    sent = 0
    with pytest.raises(CallEnded) as ended:
        for chunk in frames(chirp(400, 800, 5.0)):
            call.exchange(chunk)
            sent += 1
    assert ended.value.reason is EndReason.CALLEE_HANGUP
    assert 30 < sent < 100, sent  # about 0.8 s into a 5 s prompt
    call.hangup()  # harmless after the callee's BYE
    _scenario_passed(peer)  # our 200 OK to the BYE arrived


def test_invite_is_retransmitted_until_timer_b_then_fails():
    """A trunk that never answers: INVITE sent at 0, T1, 3T1, 7T1, ... and the dial fails at 64*T1."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    hole.settimeout(0.2)
    port = hole.getsockname()[1]
    base = _free_block(4)
    carrier = SipCarrier(TrunkConfig(host="127.0.0.1", port=port), rtp_port_range=(base, base + 4), t1=0.05)
    got: list[float] = []

    def listen():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                data = hole.recv(65535)
                if data.startswith(b"INVITE "):
                    got.append(time.monotonic())

    listener = threading.Thread(target=listen)
    listener.start()
    started = time.monotonic()
    result = carrier.dial("+12025550123", "", ring_timeout=30)
    took = time.monotonic() - started
    listener.join()
    hole.close()
    assert (result.status, result.sip_code) == (DialStatus.FAILED, None)
    assert "Timer B" in result.detail
    assert 3.1 < took < 4.0  # 64 * T1
    assert wait_for(lambda: not _udp_bound(base) and not _udp_bound(base + 2), 1)  # the RTP port was given back
    gaps = np.diff(got)
    assert len(got) == 7, got  # 0, .05, .15, .35, .75, 1.55, 3.15
    assert np.allclose(gaps, [0.05, 0.1, 0.2, 0.4, 0.8, 1.6], rtol=0.3, atol=0.03), gaps


def test_dial_status_mapping_covers_issue_table():
    assert dial_status(200) is DialStatus.ANSWERED
    assert {dial_status(c) for c in (486, 600)} == {DialStatus.BUSY}
    assert {dial_status(c) for c in (408, 480)} == {DialStatus.NO_ANSWER}
    assert dial_status(487, cancelled=True) is DialStatus.NO_ANSWER
    assert dial_status(487) is DialStatus.FAILED
    assert {dial_status(c) for c in (404, 484, 604)} == {DialStatus.INVALID_NUMBER}
    assert {dial_status(c) for c in (403, 603)} == {DialStatus.REJECTED}
    assert {dial_status(c) for c in (500, 502, 503, 504, 302, 488)} == {DialStatus.FAILED}


def test_robot_refreshes_the_session_with_a_reinvite(sipp):
    carrier, peer = sipp("session_robot_refreshes.xml", {"interval": "2", "deadline_ms": "1800"}, session_expires=90)
    call = carrier.dial("+12025550123", "", ring_timeout=5).call
    tone = chirp(400, 2400, 1.3)
    heard, _ = talk(call, tone)
    call.hangup()
    assert call._leg.refreshes == 1
    assert segment_correlation(tone[:RATE], np.frombuffer(b"".join(f.pcm for f in heard), dtype="<i2")) > 0.95
    _scenario_passed(peer)  # re-INVITE arrived in time and its 200 was ACKed


def test_callee_reinvite_refresh_is_answered_and_the_call_goes_on(sipp):
    carrier, peer = sipp("session_callee_refreshes.xml", {"interval": "4", "refresh_ms": "800"})
    call = carrier.dial("+12025550123", "", ring_timeout=5).call
    tone = chirp(400, 2400, 3.0)
    heard, _ = talk(call, tone)  # 3 s: past the 2.7 s the session would last without the refresh
    call.hangup()
    assert call.end_reason is EndReason.ROBOT_HANGUP
    assert segment_correlation(tone, np.frombuffer(b"".join(f.pcm for f in heard), dtype="<i2")) > 0.95
    _scenario_passed(peer)


def test_session_never_refreshed_by_callee_is_hung_up(sipp):
    carrier, peer = sipp("session_callee_silent.xml", {"interval": "3", "deadline_ms": "2600"})
    call = carrier.dial("+12025550123", "", ring_timeout=5).call
    started = time.monotonic()
    with pytest.raises(CallEnded) as ended:
        talk(call, np.zeros(RATE * 5, np.int16))
    assert ended.value.reason is EndReason.TIMEOUT
    assert 1.8 < time.monotonic() - started < 3.0  # interval - interval/3
    _scenario_passed(peer)  # our BYE arrived


def test_register_answers_the_challenge_and_refreshes_before_expiry(sipp):
    carrier, peer = sipp(
        "register.xml",
        {"expires": "2", "refresh_deadline_ms": "2000"},
        username="robot",
        password="s3cret",
        register=True,
    )
    code, detail = carrier.register()
    assert code == 200, detail
    _scenario_passed(peer)  # digest verified by sipp, refresh REGISTER arrived at 90 % of 2 s


def test_dial_fails_when_registration_is_refused(sipp):
    carrier, peer = sipp(
        "register.xml", {"expires": "2", "refresh_deadline_ms": "2000"}, username="robot", password="x", register=True
    )
    result = carrier.dial("+12025550123", "", ring_timeout=5)
    assert (result.status, result.sip_code) == (DialStatus.FAILED, 403)
    assert result.detail.startswith("REGISTER failed")
    _scenario_passed(peer)


def test_registering_trunk_gets_register_before_the_invite(sipp, tmp_path):
    carrier, peer = sipp("register_then_call.xml", calls=2, username="robot", register=True)
    result = carrier.dial("+12025550123", "", ring_timeout=5)
    assert result.status is DialStatus.ANSWERED
    talk(result.call, np.zeros(RATE // 2, np.int16))
    result.call.hangup()
    _scenario_passed(peer)
    log = next(tmp_path.glob("register_then_call_*_messages.log")).read_text(errors="replace")
    requests = [line.split()[0] for line in log.splitlines() if line.endswith("SIP/2.0") and " sip:" in line]
    assert requests[:2] == ["REGISTER", "INVITE"], requests


def test_tcp_trunk_that_refuses_the_connection_fails_at_once():
    port = _free_block(4)
    carrier = SipCarrier(TrunkConfig(host="127.0.0.1", port=port, transport="tcp"), rtp_port_range=(port, port + 4))
    started = time.monotonic()
    result = carrier.dial("+12025550123", "", ring_timeout=5)
    assert (result.status, result.sip_code) == (DialStatus.FAILED, None)
    assert "ConnectionRefused" in result.detail
    assert time.monotonic() - started < 1


def test_udp_trunk_not_listening_fails_at_once_on_icmp():
    """Nothing on the trunk's port: the ICMP port-unreachable fails the dial now, not after Timer B (32 s)."""
    port = _free_block(6)
    carrier = SipCarrier(TrunkConfig(host="127.0.0.1", port=port), rtp_port_range=(port + 2, port + 6))
    started = time.monotonic()
    result = carrier.dial("+12025550123", "", ring_timeout=30)
    assert (result.status, result.sip_code) == (DialStatus.FAILED, None)
    assert "unreachable" in result.detail, result.detail
    assert time.monotonic() - started < 1


def test_caller_id_in_from_or_in_p_asserted_identity(sipp, tmp_path):
    """The INVITE as the trunk sees it (sipp's message log): From carries the account when `from_user` is set,
    and the campaign's caller id travels in P-Asserted-Identity."""
    carrier, peer = sipp("reject.xml", {"code": "486", "reason": "Busy Here"}, from_user="acct1001")
    assert carrier.dial("+12025550123", "+12025550100", ring_timeout=5).status is DialStatus.BUSY
    _scenario_passed(peer)
    log = next(tmp_path.glob("reject_*_messages.log")).read_text(errors="replace")
    invite = log[log.index("INVITE sip:+12025550123@127.0.0.1") :].split("\n\n")[0]
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in invite.splitlines()[1:]}
    assert "<sip:acct1001@127.0.0.1>" in headers["from"]
    assert headers["p-asserted-identity"] == '"+12025550100" <sip:+12025550100@127.0.0.1>'
    assert "v=0" in log and "a=rtpmap:101 telephone-event/8000" in log
    assert "m=audio" in log and " RTP/AVP 0 8 101" in log  # the multi-codec offer


def test_trunk_smoke_command(sipp, tmp_path, capsys):
    """`python -m telephony.sip` dials, plays, sends digits, records, and prints the result (for checking a trunk)."""
    from telephony.sip.__main__ import main

    carrier, peer = sipp("answer.xml")
    low, high = carrier._ports.start, carrier._ports.end
    argv = ["--host", "127.0.0.1", "--port", str(carrier.trunk.port), "--number", "200", "--caller-id", "100"]
    argv += ["--seconds", "1.5", "--dtmf", "7", "--record", str(tmp_path / "heard.wav"), "--rtp-ports", f"{low}-{high}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "dial: answered 200" in out and "'dtmf_sent': '7'" in out
    heard = read_wav(tmp_path / "heard.wav")
    assert len(heard) == int(1.5 * RATE) and rms_dbfs(heard[RATE // 2 :].astype("<i2").tobytes()) > -30  # tone echoed
    _scenario_passed(peer)
