"""Settings are validated when a process starts: a wrong value stops it at once and says what to set."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_django(**env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "SECRET_KEY": "x", **env}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("TTS_ENGINE", "festival", "TTS_ENGINE='festival' is not one of: piper, gtts, espeak"),
        ("ASR_ENGINE", "kaldi", "ASR_ENGINE='kaldi' is not one of: whisper, vosk"),
        ("TELEPHONY_PROVIDER", "twilio", "TELEPHONY_PROVIDER='twilio' is not one of: sip, simulated"),
        ("RECORDING_FORMAT", "flac", "RECORDING_FORMAT='flac' is not one of: wav, mp3, ogg"),
        ("ASR_ENGINE", "vosk", "ASR_ENGINE=vosk needs VOSK_MODELS"),
        ("RTP_PORT_RANGE", "30000,20000", "RTP_PORT_RANGE must be 'low,high'"),
    ],
)
def test_a_wrong_setting_stops_the_process_with_what_to_set(name, value, says):
    result = start_django(**{name: value, "VOSK_MODELS": ""})
    assert result.returncode != 0 and "started" not in result.stdout
    assert "ImproperlyConfigured" in result.stderr and says in result.stderr, result.stderr[-2000:]


def test_the_defaults_start():
    result = start_django()
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "started"


def test_settings_the_readme_documents_are_read():
    """Every UPPER_CASE setting the README names in backticks is read by project/settings.py or the Procfile."""
    import re

    readme = (ROOT / "README.md").read_text()
    read = (ROOT / "project" / "settings.py").read_text() + (ROOT / "Procfile").read_text()
    named = set(re.findall(r"`\$?([A-Z][A-Z0-9]*_[A-Z0-9_]+)", readme))
    assert named, "the README names no settings?"
    unread = sorted(name for name in named if not re.search(rf"\b{name}\b", read))
    assert not unread, f"README documents settings nothing reads: {unread}"
