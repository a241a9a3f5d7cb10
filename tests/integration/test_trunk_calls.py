"""Campaign calls through a SIP trunk, product level: a Campaign whose Trunk points at a real peer on 127.0.0.1
(baresip or sipp, started here), dialled by campaigns.services.calls.place_call exactly as the dial task does, then
finalised by campaigns.services.calls.finalize_call. Real PostgreSQL and Redis, real piper and whisper, no dry run.

baresip plays a recorded callee (silence while the robot speaks, then an answer; or a voicemail greeting with a
beep) and records what it hears, so what the robot said is checked by running whisper on baresip's recording.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from campaigns import recordings
from campaigns.limits import client as redis_client
from campaigns.models import CallAttempt, Campaign, Disposition, Trunk
from campaigns.services import analysis, calls
from campaigns.services.analysis import read_recording
from campaigns.services.lifecycle import CampaignStateError, start_campaign
from pipeline.nlp import normalise
from pipeline.script import DEFAULT_SCRIPT, render
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory
from tests.support.speech import assert_heard
from tests.support.workers import running_worker

pytest.register_assert_rewrite("tests.support.sip.peers")  # before importing it, so its asserts explain failures
from tests.support.sip.peers import RATE, baresip_recording, scenario_passed, start_baresip, start_sipp  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = "+12025550123"
ANSWER = "Yes, I will be there."
MACHINE_GREETING = "Hi, you have reached Anna Smith. I can't take your call right now. Please leave a message."
VOICEMAIL = "Hello {first_name}, this is Acme Clinic. Please call us back about your appointment tomorrow."


@pytest.fixture(autouse=True)
def _sip_settings(settings):
    settings.TELEPHONY_PROVIDER = "sip"
    settings.RING_TIMEOUT_SECONDS = 5
    for pattern in ("limit:campaign:*", "limit:trunk:*"):  # channel counts left by an interrupted earlier run
        for key in redis_client().scan_iter(pattern):
            redis_client().delete(key)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.int16)


def beep(hz: float = 1000, seconds: float = 0.6, dbfs: float = -12) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (10 ** (dbfs / 20) * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def trunk_attempt(tenant, settings, port: int, rtp_base: int, script: dict | None = None) -> CallAttempt:
    """A running, non-dry-run campaign on a trunk at 127.0.0.1:`port`, with one queued attempt to PHONE."""
    trunk = Trunk.objects.create(tenant=tenant, name="loopback", host="127.0.0.1", port=port, caller_id="+12025550100")
    settings.RTP_PORT_RANGE = (rtp_base, rtp_base + 10)
    campaign = CampaignFactory(
        tenant=tenant,
        trunk=trunk,
        dry_run=False,
        status=Campaign.Status.RUNNING,
        window_start=dt.time(0, 0),
        window_end=dt.time(23, 59, 59),
        retry_policy={},
        **({"script": script} if script else {}),
    )
    contact = ContactFactory(campaign=campaign, phone=PHONE, first_name="Anna")
    return CallAttemptFactory(contact=contact, status=CallAttempt.Status.QUEUED)


def place_and_finalize(attempt: CallAttempt) -> CallAttempt:
    assert calls.place_call(attempt.id) == "ended"
    assert calls.finalize_call(attempt.id)
    return CallAttempt.objects.select_related("campaign").get(id=attempt.id)


def stereo_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, RATE)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


@pytest.mark.slow
def test_answered_trunk_call_is_understood_both_ways_and_recorded(tenant, settings, tmp_path, peers, piper, whisper):
    prompt = render(DEFAULT_SCRIPT["nodes"]["ask_attend"]["say"], {"first_name": "Anna"})
    lead = silence(len(piper.synthesize(prompt)) / RATE + 1.0)  # the callee lets the robot finish, then answers
    peer = start_baresip(tmp_path, peers, np.concatenate([lead, piper.synthesize(ANSWER)]), quit_after=60, user=PHONE)
    attempt = place_and_finalize(trunk_attempt(tenant, settings, peer.sip_port, peer.rtp_base))

    turns = list(attempt.turns.order_by("index"))
    transcript = [(t.speaker, t.node, t.text, t.intent) for t in turns]
    assert (attempt.dial_status, attempt.sip_code, attempt.end_reason) == ("answered", 200, "robot_hangup"), transcript
    assert attempt.disposition == Disposition.INTERESTED, transcript
    assert turns[0].speaker == "robot" and turns[0].text == prompt
    callee = [t for t in turns if t.speaker == "callee"]
    assert len(callee) == 1 and callee[0].intent == "affirm"
    assert_heard(ANSWER, callee[0].text)
    assert turns[-1].node == "confirmed"

    # The stereo recording is in the tenant's folder: robot left, callee right, as long as the call.
    assert attempt.recording.startswith(f"tenant_{tenant.id}/recordings/campaign_{attempt.campaign_id}/")
    stereo = stereo_wav(Path(settings.MEDIA_ROOT) / attempt.recording)
    assert abs(len(stereo) / RATE * 1000 - attempt.talk_ms) <= 20
    robot_heard = normalise(whisper.transcribe(stereo[:, 1].copy()).text)
    assert_heard(ANSWER, robot_heard)

    # Post-call analysis converts the recording to the configured format, off the call's path.
    settings.RECORDING_FORMAT = "mp3"
    analysis.analyze_call(attempt.id)
    attempt.refresh_from_db()
    assert attempt.recording.startswith(f"tenant_{tenant.id}/") and attempt.recording.endswith(f"{attempt.id}.mp3")
    assert not list(Path(settings.MEDIA_ROOT).rglob("*.wav"))  # the WAV is gone
    assert recordings.content_type(attempt.recording) == "audio/mpeg"
    compressed, rate = read_recording(Path(settings.MEDIA_ROOT) / attempt.recording)
    assert rate == RATE and compressed.shape[1] == 2 and abs(len(compressed) - len(stereo)) < RATE // 4
    assert_heard(ANSWER, attempt.full_transcript)  # read back from the MP3
    assert attempt.analysis["duration_ms"] == pytest.approx(attempt.talk_ms, abs=250)

    # What the callee heard (baresip's own recording) is the robot's prompt.
    callee_heard = normalise(whisper.transcribe(baresip_recording(peer)).text)
    assert_heard(prompt, callee_heard)


@pytest.mark.slow
def test_campaign_on_a_trunk_through_a_real_worker(tenant, manager, settings, tmp_path, peers, piper, whisper):
    """The whole path: start the campaign, the dispatcher and a real Celery worker process (prefork, its own SIP
    stack) dial the trunk; baresip answers; the worker finalises, analyses and stores the recording as OGG."""
    prompt = render(DEFAULT_SCRIPT["nodes"]["ask_attend"]["say"], {"first_name": "Anna"})
    lead = silence(len(piper.synthesize(prompt)) / RATE + 1.5)
    peer = start_baresip(tmp_path, peers, np.concatenate([lead, piper.synthesize(ANSWER)]), quit_after=120, user=PHONE)
    attempt = trunk_attempt(tenant, settings, peer.sip_port, peer.rtp_base)
    campaign = attempt.campaign
    CallAttempt.objects.filter(id=attempt.id).delete()  # the dispatcher makes the attempt itself
    Campaign.objects.filter(id=campaign.id).update(status=Campaign.Status.DRAFT, max_attempts=1)
    campaign.refresh_from_db()
    ports = f"{peer.rtp_base},{peer.rtp_base + 10}"
    env = {"TELEPHONY_PROVIDER": "sip", "RTP_PORT_RANGE": ports, "RING_TIMEOUT_SECONDS": 5, "RECORDING_FORMAT": "ogg"}
    with running_worker(settings, tmp_path / "worker.log", name="trunk", **env) as worker:
        start_campaign(campaign, actor=manager)
        deadline = time.monotonic() + 120
        while not CallAttempt.objects.filter(campaign=campaign, recording__endswith=".ogg").exists():
            assert time.monotonic() < deadline and worker.alive(), worker.log_tail()
            time.sleep(0.5)
    attempt = CallAttempt.objects.get(campaign=campaign)
    turns = [(t.speaker, t.text, t.intent) for t in attempt.turns.order_by("index")]
    assert (attempt.status, attempt.disposition, attempt.sip_code) == ("finalized", Disposition.INTERESTED, 200), turns
    assert attempt.recording.startswith(f"tenant_{tenant.id}/")
    assert (Path(settings.MEDIA_ROOT) / attempt.recording).is_file()
    assert_heard(ANSWER, attempt.full_transcript)
    assert Campaign.objects.get(id=campaign.id).status == Campaign.Status.COMPLETED
    callee_heard = normalise(whisper.transcribe(baresip_recording(peer)).text)
    assert_heard(prompt, callee_heard)


def test_busy_trunk_gives_busy_with_the_sip_code(tenant, settings, tmp_path, peers):
    peer, rtp_base = start_sipp(tmp_path, "reject.xml", {"code": "486", "reason": "Busy Here"})
    peers.append(peer)
    attempt = place_and_finalize(trunk_attempt(tenant, settings, peer.sip_port, rtp_base))
    assert (attempt.dial_status, attempt.sip_code, attempt.disposition) == ("busy", 486, Disposition.BUSY)
    assert attempt.answered_at is None and not attempt.turns.exists() and not attempt.recording
    scenario_passed(peer)  # sipp got our ACK of the 486


def test_campaign_without_a_trunk_cannot_start_or_dial(tenant, settings):
    campaign = CampaignFactory(tenant=tenant, dry_run=False, trunk=None)
    with pytest.raises(CampaignStateError, match="has no SIP trunk"):
        start_campaign(campaign)
    assert Campaign.objects.get(id=campaign.id).status == Campaign.Status.DRAFT
    # Even if one were running without a trunk (changed behind the lifecycle's back), the call fails, not hangs.
    Campaign.objects.filter(id=campaign.id).update(status=Campaign.Status.RUNNING, window_end=dt.time(23, 59, 59))
    Campaign.objects.filter(id=campaign.id).update(window_start=dt.time(0, 0))
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=campaign), status=CallAttempt.Status.QUEUED)
    attempt = place_and_finalize(attempt)
    assert (attempt.dial_status, attempt.disposition) == ("failed", Disposition.FAILED)
    assert "no SIP trunk" in attempt.error


def voicemail_script(action: str) -> dict:
    script = copy.deepcopy(DEFAULT_SCRIPT)
    script["voicemail"] = {"action": action, "say": VOICEMAIL}
    return script


def voicemail_box(piper) -> tuple[np.ndarray, float]:
    """A voicemail box: greeting, half a second, a 1 kHz beep of 0.6 s; returns the track and the beep's end (s)."""
    greeting = piper.synthesize(MACHINE_GREETING)
    track = np.concatenate([silence(0.3), greeting, silence(0.5), beep()])
    return track, len(track) / RATE


@pytest.mark.slow
def test_voicemail_greeting_with_beep_gets_the_message(tenant, settings, tmp_path, peers, piper, whisper):
    track, beep_end = voicemail_box(piper)
    peer = start_baresip(tmp_path, peers, track, quit_after=60, user=PHONE)
    attempt = place_and_finalize(
        trunk_attempt(tenant, settings, peer.sip_port, peer.rtp_base, voicemail_script("leave_message"))
    )
    turns = [(t.speaker, t.node, t.text, t.intent) for t in attempt.turns.order_by("index")]
    assert (attempt.outcome, attempt.disposition) == ("voicemail_left", Disposition.VOICEMAIL_LEFT), turns
    assert turns == [
        ("callee", "voicemail", "[answering machine]", "answering_machine"),
        ("robot", "voicemail", render(VOICEMAIL, {"first_name": "Anna"}), ""),
    ]
    found = attempt.analysis["amd"]
    assert found["verdict"] == "machine" and found["beep_heard"] is True, found
    assert abs(found["beep_at_ms"] - (beep_end - 0.6) * 1000) <= 100, found

    # baresip recorded the message, and it began after the beep had ended.
    heard = baresip_recording(peer)
    loud = np.flatnonzero(np.abs(heard.astype(np.int32)) > 1000)
    assert loud.size and loud[0] / RATE >= beep_end, (loud[:1] / RATE, beep_end)
    message = normalise(whisper.transcribe(heard).text)
    assert_heard(render(VOICEMAIL, {"first_name": "Anna"}), message)


def test_voicemail_hang_up_setting_leaves_nothing(tenant, settings, tmp_path, peers, piper):
    track, _ = voicemail_box(piper)
    peer = start_baresip(tmp_path, peers, track, quit_after=30, user=PHONE)
    attempt = trunk_attempt(tenant, settings, peer.sip_port, peer.rtp_base, voicemail_script("hang_up"))
    attempt = place_and_finalize(attempt)
    assert (attempt.outcome, attempt.disposition) == ("answering_machine", Disposition.NO_ANSWER)
    assert attempt.analysis["amd"]["reason"] == "long_greeting"
    assert attempt.talk_ms < 3000  # hung up on the greeting's length, not at its end
    heard = baresip_recording(peer)
    assert np.abs(heard.astype(np.int32)).max() < 1000  # the robot said nothing


@pytest.mark.parametrize(("fmt", "content_type"), [("ogg", "audio/ogg"), ("mp3", "audio/mpeg"), ("wav", "audio/wav")])
def test_recording_format_setting_converts_the_stereo_wav(tenant, settings, fmt, content_type):
    """RECORDING_FORMAT: the call's stereo WAV becomes MP3 or OGG (Vorbis) with both channels kept apart."""
    from telephony.audio import CallRecorder, frames

    t = np.arange(3 * RATE) / RATE
    robot = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)  # left: a tone; right: a different one
    callee = (8000 * np.sin(2 * np.pi * 1200 * t)).astype(np.int16)
    recorder = CallRecorder()
    for left, right in zip(frames(robot), frames(callee), strict=True):
        recorder.add(left, right)
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=CampaignFactory(tenant=tenant)))
    relative = recordings.recording_path(attempt)
    recorder.write_wav(Path(settings.MEDIA_ROOT) / relative)
    CallAttempt.objects.filter(id=attempt.id).update(recording=relative)
    attempt.refresh_from_db()

    settings.RECORDING_FORMAT = fmt
    stored = recordings.store_format(attempt)
    assert stored == CallAttempt.objects.get(id=attempt.id).recording == relative.replace(".wav", f".{fmt}")
    assert recordings.content_type(stored) == content_type
    files = sorted(p.name for p in (Path(settings.MEDIA_ROOT) / relative).parent.iterdir())
    assert files == [f"attempt_{attempt.id}.{fmt}"]
    audio, rate = read_recording(Path(settings.MEDIA_ROOT) / stored)
    assert rate == RATE and audio.shape[1] == 2
    for channel, hz in ((0, 440), (1, 1200)):
        spectrum = np.abs(np.fft.rfft(audio[RATE : 2 * RATE, channel].astype(float)))
        assert abs(np.argmax(spectrum) - hz) <= 2, (fmt, channel)  # 1 Hz bins: each channel kept its own tone
    assert recordings.store_format(attempt) == stored  # idempotent
    if fmt != "wav":
        assert (Path(settings.MEDIA_ROOT) / stored).stat().st_size < 3 * RATE * 4 / 4  # at least 4x smaller
