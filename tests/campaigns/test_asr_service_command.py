"""`manage.py asr_service`: one ASR service per host, reached by every worker through ASR_SOCKET."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.asr import ASRError, WhisperASR
from telephony.audio import through_g711
from tests.pipeline.test_asr_service import gone
from tests.support.speech import assert_heard
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_workers_share_the_hosts_asr_service_and_it_stops_with_its_decode_processes(tmp_path, piper):
    socket_path = str(tmp_path / "asr.sock")
    command = [sys.executable, "manage.py", "asr_service", "--processes", "1"]
    service = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "ASR_SOCKET": socket_path})
    try:
        assert wait_for(lambda: Path(socket_path).exists(), timeout=120), "the service never listened"
        asr = WhisperASR(socket_path=socket_path, processes=8)  # the host's service decides how many
        said = "Yes, I will be there on Monday morning."
        assert_heard(said, asr.transcribe_utterance(through_g711(piper.synthesize(said))).text)
        stats = asr.stats
        assert stats.service_pid == service.pid and len(stats.pids) == 1
        assert oct(Path(socket_path).stat().st_mode & 0o777) == oct(0o600)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=60) == 0
        assert wait_for(lambda: gone(stats.pids[0]), timeout=30), "a decode process outlived the service"
        assert not Path(socket_path).exists()
    finally:
        service.kill()
        service.wait()


def test_a_worker_whose_asr_socket_has_no_service_fails_to_load_its_engines(tmp_path):
    with pytest.raises(ASRError, match="No ASR service at"):
        WhisperASR(socket_path=str(tmp_path / "nobody.sock"))
