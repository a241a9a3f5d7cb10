"""Whisper decodes in an ASR service's decode processes (pipeline/asr_service.py), with real whisper: superseded
speculative decodes are cancelled, two calls' decodes run at once in two processes, and the service and its
decode processes end with the worker process that started them."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from pipeline.asr import WhisperASR, bundled_whisper_path
from telephony.audio import frames, through_g711
from tests.support.speech import assert_heard
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ANSWER = "Yes, I will be there on Monday morning."
LONG = (
    "Well, I have to check with my wife first, because on Mondays we usually visit her mother, but I think it "
    "should be fine, and if it is not I will call you back on Tuesday or Wednesday afternoon after work."
)


def fed(asr: WhisperASR, audio: np.ndarray, count: int = 1) -> list:
    recognizers = [asr.recognizer() for _ in range(count)]
    for frame in frames(audio):
        for recognizer in recognizers:
            recognizer.accept(frame)
    return recognizers


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def gone(pid: int) -> bool:
    """No such process, or a zombie waiting for init to reap it (it runs nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_a_superseded_decode_waiting_for_a_decode_process_is_dropped(piper):
    """One decode process: a speculative decode queued behind a running one is dropped when the callee goes on,
    and never reaches a decode process."""
    single = WhisperASR(processes=1)
    busy, superseded = fed(single, through_g711(piper.synthesize(ANSWER)), 2)
    before = single.stats
    busy.prepare()  # holds the only decode process for a few hundred ms
    superseded.prepare()  # queued behind it
    superseded.cancel_prepared()  # the callee went on
    assert_heard(ANSWER, busy.result().text)
    after = single.stats
    assert after.decodes == before.decodes + 1, "the superseded decode ran"
    assert after.cancelled == before.cancelled + 1
    # The superseded recogniser's final result decodes everything it heard, once.
    assert_heard(ANSWER, superseded.result().text)


def test_a_superseded_decode_that_is_running_is_stopped(piper):
    """A decode already in its decode process is stopped at its next step (after the encoder or the decoder)
    instead of running to the end; the process then serves the next decode."""
    single = WhisperASR(processes=1)
    (recognizer,) = fed(single, through_g711(piper.synthesize(LONG)))  # about 12 s: seconds to decode
    before = single.stats
    recognizer.prepare()
    assert wait_for(lambda: single.stats.in_flight == 1, timeout=30, interval=0.01)
    recognizer.cancel_prepared()
    assert wait_for(lambda: single.stats.in_flight == 0, timeout=30)
    after = single.stats
    assert (after.decodes, after.cancelled) == (before.decodes + 1, before.cancelled + 1)
    assert_heard(LONG, recognizer.result().text)


def test_two_calls_decode_at_once_in_two_processes(piper):
    """Two answers ending together are decoded at the same time, each by its own decode process (both use CPU),
    not one after the other."""
    parallel = WhisperASR(processes=2, model_path=bundled_whisper_path())  # a service of its own: fresh counts
    first, second = fed(parallel, through_g711(piper.synthesize(LONG)), 2)
    pids = parallel.stats.pids
    assert len(set(pids)) == 2 and os.getpid() not in pids
    ticks = [cpu_ticks(pid) for pid in pids]
    first.prepare()
    second.prepare()
    results = [first.result(), second.result()]
    assert parallel.stats.most_in_flight == 2
    assert all(cpu_ticks(pid) > before for pid, before in zip(pids, ticks, strict=True)), "one process did both"
    for result in results:
        assert_heard(LONG, result.text)


def test_engines_with_the_same_settings_share_one_service(whisper):
    """Live calls and post-call transcripts build separate WhisperASR objects; a process starts one service for
    the same settings, so its decode processes are the only ones decoding."""
    post_call = WhisperASR(short_window=False)
    assert post_call.stats.service_pid == whisper.stats.service_pid


WORKER = textwrap.dedent(
    """
    import json, sys, time
    from pipeline.asr import WhisperASR
    stats = WhisperASR(processes=2).stats
    print(json.dumps([stats.service_pid, *stats.pids]), flush=True)
    if sys.argv[1] == "wait":
        time.sleep(600)
    """
)


@pytest.mark.parametrize("end", ["killed", "exits"])
def test_a_worker_process_takes_its_asr_processes_with_it(end):
    """Killed (SIGKILL: no clean-up code runs) or exiting normally, a worker process leaves no ASR service or
    decode process behind."""
    command = [sys.executable, "-c", WORKER, "wait" if end == "killed" else "exit"]
    worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        pids = json.loads(worker.stdout.readline())
        assert len(pids) == 3 and not any(gone(pid) for pid in pids)
        if end == "killed":
            worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=60)
        assert wait_for(lambda: all(gone(pid) for pid in pids), timeout=30), "ASR processes outlived the worker"
    finally:
        worker.kill()
        worker.wait()
