"""Where call recordings live and in which format (settings.RECORDING_FORMAT).

A call writes a stereo WAV (robot left, callee right; no encoding on the call's path) below its tenant's folder;
the post-call analysis converts it to MP3 or OGG here. Light on purpose: web processes import it to serve files.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from campaigns.models import CallAttempt

log = logging.getLogger(__name__)

CONTENT_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}
_EXPORT = {
    "mp3": {"format": "mp3", "codec": "libmp3lame", "bitrate": "32k"},  # 8 kHz stereo speech: MPEG-2.5 layer III
    "ogg": {"format": "ogg", "codec": "libvorbis", "parameters": ["-q:a", "3"]},
}


def recording_path(attempt: CallAttempt) -> str:
    """Relative to MEDIA_ROOT; the tenant id leads so every file sits below its tenant's folder."""
    return f"tenant_{attempt.tenant_id}/recordings/campaign_{attempt.campaign_id}/attempt_{attempt.id}.wav"


def content_type(path: str) -> str:
    """The HTTP content type for a stored recording, from its extension."""
    return CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def store_format(attempt: CallAttempt) -> str:
    """Convert the attempt's WAV recording to settings.RECORDING_FORMAT (mp3 or ogg), point the attempt at the new
    file and remove the WAV. Idempotent; returns the recording path (below MEDIA_ROOT) now in use. If ffmpeg fails,
    the WAV stays the recording (logged)."""
    wanted = settings.RECORDING_FORMAT
    source = Path(settings.MEDIA_ROOT) / attempt.recording
    if wanted == "wav" or source.suffix.lower() != ".wav" or not source.is_file():
        return attempt.recording
    from pydub import AudioSegment  # here, not at the top: web processes only serve files, never encode

    target = source.with_suffix(f".{wanted}")
    partial = target.with_name(f"{target.name}.part")
    try:
        AudioSegment.from_wav(source).export(partial, **_EXPORT[wanted])
    except Exception:
        log.exception("could not convert the recording of attempt %s to %s; keeping the WAV", attempt.id, wanted)
        partial.unlink(missing_ok=True)
        return attempt.recording
    partial.replace(target)
    relative = str(Path(attempt.recording).with_suffix(f".{wanted}"))
    CallAttempt.objects.filter(id=attempt.id, recording=attempt.recording).update(recording=relative)
    source.unlink()
    attempt.recording = relative
    return relative
