"""Measure what the SIP agent itself costs: CPU per call and answer time, N calls at once against sipp
(answer.xml, RTP echoed). Not a test; run by hand:

    .venv/bin/python -m tests.support.sip.measure 10 10      # 10 simultaneous calls of 10 s each
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from telephony.audio import frames
from telephony.sip import SipCarrier, TrunkConfig

SCENARIO = Path(__file__).parent / "answer.xml"


def main(calls: int, seconds: float, port: int = 47000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["sipp", "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1"]
        cmd += ["-mp", str(port + 2), "-rtp_echo", "-m", str(calls), "-l", str(calls), "-nostdin"]
        sipp = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        time.sleep(0.5)
        try:
            carrier = SipCarrier(TrunkConfig(host="127.0.0.1", port=port), rtp_port_range=(port + 10, port + 400))
            t = np.arange(int(seconds * 8000)) / 8000
            audio = (6000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
            answer_ms: list[float] = []
            late: list[int] = []

            def one(i: int) -> None:
                result = carrier.dial(f"+1202555{i:04d}", "+12025550100", ring_timeout=5)
                answer_ms.append(result.call.stats["final_ms"])
                for chunk in frames(audio):
                    result.call.exchange(chunk)
                late.append(result.call.stats["late_ticks"])
                result.call.hangup()

            before = resource.getrusage(resource.RUSAGE_SELF)
            wall = time.monotonic()
            threads = [threading.Thread(target=one, args=(i,)) for i in range(calls)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - wall
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            print(
                f"{calls} calls x {seconds:.0f} s: wall {wall:.1f} s, CPU {cpu:.2f} s "
                f"= {100 * cpu / (calls * seconds):.1f} % of a core per call; "
                f"answer median {np.median(answer_ms):.1f} ms max {max(answer_ms):.1f} ms; late ticks {sum(late)}"
            )
        finally:
            sipp.terminate()
            sipp.wait(5)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1, float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
