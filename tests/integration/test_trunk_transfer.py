"""Handing the callee to a person, product level: a campaign on a trunk at a real baresip (the callee, which takes
REFER and calls the agent itself), the agent played by sipp, dialled by place_call and finalised as the dial task
does. Real PostgreSQL, Redis, piper and whisper.

The script: the usual question, with "yes" leading to a transfer node and "press 0 for a person" from the ask
node; when the agent is busy the robot takes the callee back and says nobody is free (a callback).
"""

from __future__ import annotations

import copy
import threading
import time

import numpy as np
import pytest

from campaigns.models import CallAttempt, Disposition
from pipeline.nlp import normalise
from pipeline.script import DEFAULT_SCRIPT, render
from tests.integration.test_trunk_calls import (
    PHONE,
    _sip_settings,  # noqa: F401 (autouse: trunk settings, clean limits)
    place_and_finalize,
    silence,
    trunk_attempt,
)
from tests.support.speech import assert_heard

pytest.register_assert_rewrite("tests.support.sip.peers")
from tests.support.sip.peers import (  # noqa: E402
    baresip_command,
    baresip_recording,
    scenario_passed,
    start_baresip,
    start_sipp,
)
from tests.support.waiting import wait_for  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

NOBODY_FREE = "Sorry, nobody is free right now. We will call you back. Goodbye."


def transfer_script(agent_uri: str) -> dict:
    script = copy.deepcopy(DEFAULT_SCRIPT)
    script["nodes"]["ask_attend"]["on"]["affirm"] = "agent"
    script["nodes"]["agent"] = {
        "type": "transfer",
        "say": "Please hold, I am putting you through to a colleague.",
        "to": agent_uri,
        "otherwise": "nobody_free",
        "timeout": 15,
    }
    script["nodes"]["nobody_free"] = {"type": "end", "say": NOBODY_FREE, "outcome": "callback_requested"}
    script["keypad_transfer"] = {"key": "0", "node": "agent"}
    return script


def agent(tmp_path, peers, scenario: str, keys: dict | None = None):
    (tmp_path / "agent").mkdir()
    peer, _ = start_sipp(tmp_path / "agent", scenario, keys)
    peers.append(peer)
    return peer, f"sip:agent@127.0.0.1:{peer.sip_port}"


def callee_says_yes(tmp_path, peers, piper, quit_after: int = 60, stays_seconds: float = 20):
    """baresip saying yes after the question, then silent for `stays_seconds` (it hangs up when its file ends)."""
    prompt = render(DEFAULT_SCRIPT["nodes"]["ask_attend"]["say"], {"first_name": "Anna"})
    lead = silence(len(piper.synthesize(prompt)) / 8000 + 1.0)
    (tmp_path / "callee").mkdir()
    track = np.concatenate([lead, piper.synthesize("Yes, I will be there.")])
    return start_baresip(tmp_path / "callee", peers, track, stays_seconds, quit_after=quit_after, user=PHONE)


@pytest.mark.slow
def test_yes_is_transferred_to_the_agent(tenant, settings, tmp_path, peers, piper, whisper):
    desk, uri = agent(tmp_path, peers, "answer.xml")
    callee = callee_says_yes(tmp_path, peers, piper)
    attempt = trunk_attempt(tenant, settings, callee.sip_port, callee.rtp_base, transfer_script(uri))
    attempt = place_and_finalize(attempt)
    transcript = [(t.node, t.text, t.intent) for t in attempt.turns.order_by("index")]

    assert (attempt.outcome, attempt.disposition) == ("transferred", Disposition.TRANSFERRED), transcript
    assert (attempt.transfer_target, attempt.transfer_status) == (uri, "connected")
    assert attempt.answered_at < attempt.transferred_at < attempt.ended_at
    record = attempt.analysis["transfer"]
    assert (record["status"], record["sip_code"], record["mode"]) == ("connected", 200, "cold")
    assert transcript[-1] == ("agent", f"[transfer to {uri}: connected]", "")
    assert wait_for(lambda: "Call established: sip:agent@" in callee.output(), 5)  # the callee's phone rang the agent


@pytest.mark.slow
def test_busy_agent_sends_the_callee_back_to_the_script(tenant, settings, tmp_path, peers, piper, whisper):
    desk, uri = agent(tmp_path, peers, "reject.xml", {"code": "486", "reason": "Busy Here"})
    callee = callee_says_yes(tmp_path, peers, piper)
    attempt = trunk_attempt(tenant, settings, callee.sip_port, callee.rtp_base, transfer_script(uri))
    attempt = place_and_finalize(attempt)
    transcript = [(t.node, t.text) for t in attempt.turns.order_by("index")]

    assert (attempt.outcome, attempt.disposition) == ("callback_requested", Disposition.CALLBACK_REQUESTED)
    assert (attempt.transfer_target, attempt.transfer_status) == (uri, "busy"), transcript
    assert attempt.analysis["transfer"]["sip_code"] == 486
    assert [node for node, _ in transcript[-2:]] == ["agent", "nobody_free"]
    # After the failed transfer the callee heard the robot again: "nobody is free" is in baresip's recording.
    assert_heard(NOBODY_FREE, normalise(whisper.transcribe(baresip_recording(callee, timeout=20)).text))


def test_keypad_zero_during_the_question_transfers(tenant, settings, tmp_path, peers, piper):
    desk, uri = agent(tmp_path, peers, "answer.xml")
    (tmp_path / "callee").mkdir()
    callee = start_baresip(tmp_path / "callee", peers, silence(1), quit_after=40, user=PHONE)
    attempt = trunk_attempt(tenant, settings, callee.sip_port, callee.rtp_base, transfer_script(uri))

    def press_zero():
        assert wait_for(lambda: "Call established" in callee.output(), 15)
        time.sleep(1.0)  # during the question
        baresip_command(callee, "sndcode", "0")

    presser = threading.Thread(target=press_zero)
    presser.start()
    attempt = place_and_finalize(attempt)
    presser.join()
    turns = list(attempt.turns.order_by("index"))
    assert turns[0].slots.get("interrupted_after_ms")  # the key stopped the question
    assert (turns[1].text, turns[1].intent) == ("[keypad 0]", "keypad_transfer")
    assert (attempt.disposition, attempt.transfer_status) == (Disposition.TRANSFERRED, "connected")
    assert CallAttempt.objects.filter(disposition=Disposition.TRANSFERRED).count() == 1


AGENT_GREETING = "Hello, this is Maria from the clinic. How can I help you?"


@pytest.mark.slow
def test_warm_transfer_tells_the_agent_then_bridges_both_ways(tenant, settings, tmp_path, peers, piper, whisper):
    """The robot dials the agent (a second baresip), tells them who is on the line, then passes audio both ways in
    our agent: the summary is in the agent's recording, the agent's greeting in the callee's."""
    (tmp_path / "agent").mkdir()
    # The agent speaks 15 s after answering: after the summary (about 7 s), with room for a loaded machine.
    agent_track = np.concatenate([silence(15), piper.synthesize(AGENT_GREETING)])
    desk = start_baresip(tmp_path / "agent", peers, agent_track, pad_seconds=4, quit_after=90, user="agent")
    callee = callee_says_yes(tmp_path, peers, piper, quit_after=90, stays_seconds=60)  # the agent hangs up first
    script = transfer_script(f"sip:agent@127.0.0.1:{desk.sip_port}")
    script["nodes"]["agent"]["mode"] = "warm"
    attempt = place_and_finalize(trunk_attempt(tenant, settings, callee.sip_port, callee.rtp_base, script))
    transcript = [(t.node, t.text) for t in attempt.turns.order_by("index")]

    assert (attempt.disposition, attempt.transfer_status) == (Disposition.TRANSFERRED, "connected"), transcript
    record = attempt.analysis["transfer"]
    assert record["mode"] == "warm" and record["sip_code"] == 200
    assert record["started_ms"] <= record["agent_answered_ms"] < record["bridged_ms"] < record["ended_ms"]
    # The agent heard the summary: who is on the line and their answer.
    agent_heard = normalise(whisper.transcribe(baresip_recording(desk, timeout=30)).text)
    assert "on the line" in agent_heard and "connecting you" in agent_heard, agent_heard
    # The callee heard the agent through the bridge (the last 12 s of its recording: the agent hangs up 4 s after,
    # and the robot then ends the callee's call).
    callee_heard = baresip_recording(callee, timeout=30)
    assert_heard(AGENT_GREETING, normalise(whisper.transcribe(callee_heard[-12 * 8000 :]).text))


@pytest.mark.parametrize(
    ("scenario", "status", "code"), [("refer_refused.xml", "refused", 403), ("refer_silent.xml", "no_report", None)]
)
def test_refused_or_unreported_transfer_goes_back_to_the_script(
    tenant, settings, tmp_path, peers, scenario, status, code
):
    """The callee's side refuses the REFER (403), or accepts it and never reports: the outcome is recorded and the
    robot carries on with `otherwise` (sipp requires our BYE at the end: the call was still ours)."""
    peer, rtp_base = start_sipp(tmp_path, scenario, {"code": "403", "reason": "Forbidden"})
    peers.append(peer)
    script = transfer_script("+12025550199")
    script["start"] = "agent"  # straight to the person: the callee's answer is not what is tested here
    script["nodes"]["agent"]["timeout"] = 5
    attempt = place_and_finalize(trunk_attempt(tenant, settings, peer.sip_port, rtp_base, script))
    nodes = [t.node for t in attempt.turns.order_by("index")]
    assert (attempt.transfer_status, attempt.analysis["transfer"]["sip_code"]) == (status, code)
    assert (attempt.outcome, attempt.disposition) == ("callback_requested", Disposition.CALLBACK_REQUESTED), nodes
    assert nodes[-1] == "nobody_free" and attempt.end_reason == "robot_hangup"
    assert attempt.transfer_target == "+12025550199"
    scenario_passed(peer)
