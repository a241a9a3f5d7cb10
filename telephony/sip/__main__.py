"""Smoke-test a trunk by hand: dial one number, play a WAV (or a tone), record what comes back, print the result.

    .venv/bin/python -m telephony.sip --host sip.example.net --user acct --password secret \\
        --caller-id +12025550100 --number +12025550123 --seconds 10 --play prompt.wav --record heard.wav

The password can come from the SIP_PASSWORD environment variable instead of the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import wave
from pathlib import Path

import numpy as np

from telephony.audio import frames, read_wav_mono, to_line_audio
from telephony.interface import SAMPLE_RATE, CallEnded
from telephony.sip import SipCarrier, TrunkConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m telephony.sip", description=__doc__.split("\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=5060)
    parser.add_argument("--transport", default="udp", choices=["udp", "tcp"])
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default=os.environ.get("SIP_PASSWORD", ""))
    parser.add_argument("--caller-id", default="")
    parser.add_argument("--from-user", default="")
    parser.add_argument("--register", action="store_true")
    parser.add_argument("--number", required=True)
    parser.add_argument("--ring-timeout", type=float, default=30)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--play", type=Path, help="16-bit WAV to play after answer (default: a 440 Hz tone)")
    parser.add_argument("--record", type=Path, help="write what the callee sent to this WAV")
    parser.add_argument("--dtmf", default="", help="digits to send (RFC 4733) after answer")
    parser.add_argument("--rtp-ports", default="20000-30000")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every SIP message")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s")

    low, high = (int(p) for p in args.rtp_ports.split("-"))
    trunk = TrunkConfig(
        host=args.host,
        port=args.port,
        transport=args.transport,
        username=args.user,
        password=args.password,
        caller_id=args.caller_id,
        from_user=args.from_user,
        register=args.register,
    )
    result = SipCarrier(trunk, rtp_port_range=(low, high)).dial(args.number, args.caller_id, args.ring_timeout)
    print(f"dial: {result.status} {result.sip_code} {result.detail}")
    if result.call is None:
        return 1
    call = result.call
    if args.play:
        audio = to_line_audio(*read_wav_mono(args.play))
    else:
        t = np.arange(int(args.seconds * SAMPLE_RATE)) / SAMPLE_RATE
        audio = (0.2 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    chunks = frames(audio)
    total = int(args.seconds * 1000 / 20)
    chunks += [b"\0" * 320] * max(0, total - len(chunks))
    if args.dtmf:
        call.send_dtmf(args.dtmf)
    heard: list[bytes] = []
    try:
        for chunk in chunks[:total]:
            frame = call.exchange(chunk)
            heard.append(frame.pcm)
            if frame.dtmf:
                print(f"dtmf from callee: {frame.dtmf}")
    except CallEnded as ended:
        print(f"call ended: {ended.reason}")
    call.hangup()
    if args.record:
        with wave.open(str(args.record), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
            w.writeframes(b"".join(heard))
    print(f"stats: {call.stats}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
