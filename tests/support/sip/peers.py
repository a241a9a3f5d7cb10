"""Real SIP peers on 127.0.0.1 for tests and benchmarks: baresip (auto-answers, plays a WAV, records what it hears,
sends and logs DTMF) and sipp (scripted UAS from tests/support/sip/*.xml). Started as subprocesses, always stopped.

Used by tests/telephony/test_sip.py (the agent), tests/integration/test_trunk_calls.py (campaign calls through a
trunk) and bench/.
A missing peer binary fails, never skips.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from telephony.sip import SipCarrier, TrunkConfig
from tests.support.waiting import wait_for

SCENARIOS = Path(__file__).parent
RATE = 8000


# -- ports and processes ---------------------------------------------------------------------------


def free_block(size: int) -> int:
    """A base port with `size` consecutive free UDP and TCP ports on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(40000, 60000, 2)
        held = []
        try:
            for port in range(base, base + size):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    held.append(s)
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port block")


def udp_bound(port: int, kind: int = socket.SOCK_DGRAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


class Peer:
    """A peer process whose output goes to a log file; killed on teardown."""

    def __init__(self, cmd: list[str], cwd: Path, sip_port: int, name: str, tcp: bool = False) -> None:
        self.log = cwd / f"{name}.log"
        self.cmd = cmd
        self.proc = subprocess.Popen(
            cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while not udp_bound(sip_port, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{name} did not start: {self.output()}")
            time.sleep(0.02)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(3)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getframerate() == RATE
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


# -- sipp --------------------------------------------------------------------------------------------


def start_sipp(
    directory: Path,
    scenario: str,
    keys: dict[str, str] | None = None,
    calls: int = 1,
    tcp: bool = False,
    extra: tuple[str, ...] = (),
) -> tuple[Peer, int]:
    """sipp as a UAS running tests/support/sip/<scenario>, echoing RTP; returns (peer, first free RTP port for the
    robot).

    The machine is shared: a port found free can be taken before sipp binds it, so a failed start is retried on
    other ports (twice), and the third failure is the test's."""
    for attempt in range(3):
        try:
            return _start_sipp(directory, scenario, keys, calls, tcp, extra)
        except AssertionError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_sipp(
    directory: Path, scenario: str, keys: dict[str, str] | None, calls: int, tcp: bool, extra: tuple[str, ...]
) -> tuple[Peer, int]:
    base = free_block(12)
    sip_port, media_port, rtp_base = base, base + 2, base + 6  # sipp echoes on media_port and media_port + 2
    # sipp checks status codes and pauses before it expands -key values, so [name] is filled in here.
    text = (SCENARIOS / scenario).read_text()
    for key, value in (keys or {}).items():
        text = text.replace(f"[{key}]", value)
    (directory / scenario).write_text(text)
    cmd = ["sipp", "-sf", str(directory / scenario), "-i", "127.0.0.1", "-p", str(sip_port)]
    cmd += ["-mi", "127.0.0.1", "-mp", str(media_port), "-rtp_echo", "-m", str(calls), "-nostdin"]
    cmd += ["-timeout", "20s", "-timeout_error", "-trace_msg"]  # messages log: <scenario>_<pid>_messages.log
    cmd += extra  # later options win (e.g. a longer -timeout, -lost N)
    if tcp:
        cmd += ["-t", "t1"]
    peer = Peer(cmd, directory, sip_port, "sipp", tcp=tcp)
    peer.sip_port = sip_port
    return peer, rtp_base


@pytest.fixture
def peers():
    started: list[Peer] = []
    yield started
    for peer in started:
        peer.stop()


@pytest.fixture
def sipp(tmp_path, peers):
    """Start sipp as a UAS running one of tests/support/sip/*.xml; returns (carrier, peer)."""

    def start(scenario: str, keys: dict[str, str] | None = None, calls: int = 1, **trunk) -> tuple[SipCarrier, Peer]:
        peer, rtp_base = start_sipp(tmp_path, scenario, keys, calls, tcp=trunk.get("transport") == "tcp")
        peers.append(peer)
        config = TrunkConfig(host="127.0.0.1", port=peer.sip_port, caller_id="+12025550100", **trunk)
        return SipCarrier(config, rtp_port_range=(rtp_base, rtp_base + 4)), peer

    return start


def scenario_passed(peer: Peer) -> None:
    """sipp exits 0 only when its scenario ran to the end (every expected ACK/CANCEL/BYE arrived)."""
    code = peer.wait(15)
    if code != 0:
        messages = "\n".join(p.read_text(errors="replace")[-4000:] for p in peer.log.parent.glob("*_messages.log"))
        raise AssertionError(f"sipp scenario failed (exit {code}):\n{peer.output()[-2000:]}\n{messages}")


# -- baresip -----------------------------------------------------------------------------------------


def start_baresip(
    directory: Path,
    peers: list,
    plays: np.ndarray,
    pad_seconds: float = 20,
    quit_after: int = 40,
    user: str = "callee",
) -> Peer:
    """An auto-answering baresip for calls to sip:<user>@127.0.0.1:<port>: plays `plays` then `pad_seconds` of
    silence (baresip hangs up when its file ends), dumps what it hears to dump-*-dec.wav in `directory`, logs
    received RFC 4733 events, takes commands on ctrl_tcp (sndcode = send DTMF), and quits after `quit_after`
    seconds whatever happens."""
    base = free_block(28)
    sip_port, ctrl_port = base, base + 4  # baresip also takes sip_port (TCP) and sip_port + 1 (TLS)
    wav = directory / "answer.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(RATE)
        pad = np.zeros(int(pad_seconds * RATE), np.int16)
        w.writeframes(np.concatenate([plays, pad]).astype("<i2").tobytes())
    config = (
        (SCENARIOS / "baresip.conf")
        .read_text()
        .format(sip_port=sip_port, ctrl_port=ctrl_port, rtp_min=base + 6, rtp_max=base + 15, answer=wav)
    )
    (directory / "config").write_text(config)
    (directory / "accounts").write_text(
        f"<sip:{user}@127.0.0.1:{sip_port}>;regint=0;answermode=auto;audio_codecs=PCMU,PCMA\n"
    )
    peer = Peer(["baresip", "-f", str(directory), "-t", str(quit_after)], directory, sip_port, "baresip")
    peers.append(peer)
    assert wait_for(lambda: "baresip is ready" in peer.output(), 10), peer.output()
    peer.ctrl_port, peer.sip_port, peer.rtp_base, peer.dir = ctrl_port, sip_port, base + 16, directory
    return peer


def baresip_recording(peer: Peer, timeout: float = 10) -> np.ndarray:
    """What baresip heard during its (one) call, once the call is over."""
    assert wait_for(lambda: "terminated" in peer.output(), timeout), peer.output()
    return read_wav(next(peer.dir.glob("dump-*-dec.wav")))


def baresip_command(peer: Peer, command: str, params: str = "") -> None:
    payload = json.dumps({"command": command, "params": params, "token": "t"}).encode()
    with socket.create_connection(("127.0.0.1", peer.ctrl_port), timeout=3) as s:
        s.sendall(b"%d:%s," % (len(payload), payload))
        s.recv(4096)
