"""Install a vosk model for one language and print the VOSK_MODELS setting that uses it.

    manage.py install_vosk_model en vosk-model-small-en-us-0.15          # official name -> official URL
    manage.py install_vosk_model en https://alphacephei.com/vosk/models/vosk-model-en-us-0.22.zip
    manage.py install_vosk_model ko /srv/downloads/vosk-model-small-ko-0.22.zip   # local .zip / .tar.gz
    manage.py install_vosk_model ko /srv/models/vosk-model-small-ko-0.22          # an unpacked folder

The model lands in <models dir>/<language> (default var/vosk-models, or VOSK_MODELS_DIR), replacing an earlier
one only with --force, and only once the new one is complete: a failed install leaves the old model in place.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

OFFICIAL_URL = "https://alphacephei.com/vosk/models/{name}.zip"
LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")
MODEL_NAME = re.compile(r"vosk-model-[A-Za-z0-9._-]+")
CHUNK = 1 << 20


def default_models_dir() -> Path:
    return Path(getattr(settings, "VOSK_MODELS_DIR", Path(settings.BASE_DIR) / "var" / "vosk-models"))


def model_root(folder: Path) -> Path | None:
    """The folder holding the model (itself or one level down, as official archives nest it), or None."""
    candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]
    for candidate in candidates:
        has_am = (candidate / "am" / "final.mdl").is_file() or (candidate / "final.mdl").is_file()
        has_conf = (candidate / "conf" / "mfcc.conf").is_file() or (candidate / "mfcc.conf").is_file()
        if has_am and has_conf:
            return candidate
    return None


class Command(BaseCommand):
    help = "Install a vosk model for a language from the official download URL, a local archive or a folder."

    def add_arguments(self, parser) -> None:
        parser.add_argument("language", help="language code the model is for, e.g. en, ko, pt-BR")
        parser.add_argument("source", help="official model name, http(s) URL, .zip/.tar.gz archive, or a folder")
        parser.add_argument("--models-dir", type=Path, default=None, help="default: VOSK_MODELS_DIR or var/vosk-models")
        parser.add_argument("--force", action="store_true", help="replace a model already installed for the language")
        parser.add_argument("--sha256", default="", help="expected SHA-256 of the downloaded or local archive")
        parser.add_argument("--check", action="store_true", help="load the model with vosk and decode a second")
        parser.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")

    def handle(self, language: str, source: str, **options) -> None:
        if not LANGUAGE.fullmatch(language):
            raise CommandError(f"{language!r} is not a language code such as 'en', 'ko' or 'pt-BR'.")
        models_dir = (options["models_dir"] or default_models_dir()).resolve()
        target = models_dir / language
        if target.exists() and not options["force"]:
            raise CommandError(f"A model for {language!r} is already installed at {target}; use --force to replace it.")
        models_dir.mkdir(parents=True, exist_ok=True)
        # Staging next to the target: the final move is a rename on the same file system.
        with tempfile.TemporaryDirectory(prefix=f".install-{language}-", dir=models_dir) as staging_name:
            staging = Path(staging_name)
            unpacked = staging / "unpacked"
            digest = self._fetch(source, staging, unpacked, options)
            root = model_root(unpacked)
            if root is None:
                raise CommandError(
                    f"{source} holds no vosk model (no am/final.mdl with conf/mfcc.conf); "
                    "models are listed at https://alphacephei.com/vosk/models"
                )
            if options["check"]:
                self._check(root)
            (root / "INSTALLED.json").write_text(
                json.dumps(
                    {
                        "language": language,
                        "source": source,
                        "sha256": digest,
                        "installed_at": timezone.now().isoformat(),
                    },
                    indent=1,
                )
            )
            previous = staging / "previous"
            if target.exists():
                target.rename(previous)  # removed with the staging folder once the new model is in place
            try:
                root.rename(target)
            except OSError:
                if previous.exists():
                    previous.rename(target)
                raise
        models = {**getattr(settings, "VOSK_MODELS", {}), language: str(target)}
        self.stdout.write(f"Installed the vosk model for {language!r} at {target}")
        self.stdout.write("Set (with ASR_ENGINE=vosk to use vosk for live calls):")
        self.stdout.write("VOSK_MODELS=" + ",".join(f"{lang}={path}" for lang, path in sorted(models.items())))

    # -- getting the files -------------------------------------------------------------------------

    def _fetch(self, source: str, staging: Path, unpacked: Path, options: dict) -> str:
        """Unpack `source` into `unpacked`; returns the archive's SHA-256 ('' for a folder)."""
        if MODEL_NAME.fullmatch(source) and not Path(source).exists():
            source = OFFICIAL_URL.format(name=source)
        scheme = urllib.parse.urlparse(source).scheme
        if scheme in ("http", "https"):
            archive = staging / Path(urllib.parse.urlparse(source).path).name
            if not archive.name.endswith((".zip", ".tar.gz", ".tgz")):
                archive = archive.with_name(archive.name + ".zip")
            self._download(source, archive, options["timeout"])
        elif scheme and len(scheme) > 1:
            raise CommandError(f"Only http(s) URLs, archives and folders can be installed, not {scheme}:.")
        else:
            path = Path(source).expanduser()
            if path.is_dir():
                if options["sha256"]:
                    raise CommandError("--sha256 checks an archive; a folder has none.")
                shutil.copytree(path, unpacked, symlinks=False)
                return ""
            if not path.is_file():
                raise CommandError(f"{source} is neither a folder, an archive nor a URL.")
            archive = path
        digest = sha256(archive)
        if options["sha256"] and digest != options["sha256"].lower():
            raise CommandError(f"SHA-256 mismatch for {archive.name}: expected {options['sha256']}, got {digest}.")
        unpack(archive, unpacked)
        return digest

    def _download(self, url: str, archive: Path, timeout: float) -> None:
        self.stderr.write(f"Downloading {url}")
        # Only http(s) reaches here (checked in _fetch).
        request = urllib.request.Request(url, headers={"User-Agent": "robocall-install-vosk-model"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response, archive.open("wb") as out:  # noqa: S310
                total = int(response.headers.get("Content-Length") or 0)
                done, reported = 0, 0
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if total and done * 10 // total > reported:
                        reported = done * 10 // total
                        self.stderr.write(f"  {done * 100 // total}% of {total >> 20} MiB")
        except OSError as exc:  # URLError, HTTPError, timeouts
            raise CommandError(f"Could not download {url}: {exc}") from exc
        if total and done != total:
            raise CommandError(f"Download of {url} stopped after {done} of {total} bytes.")

    def _check(self, root: Path) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        try:
            recognizer = vosk.KaldiRecognizer(vosk.Model(str(root)), 16000)
        except Exception as exc:  # vosk raises a bare Exception when the model cannot be created
            raise CommandError(f"vosk could not load the model: {exc}") from exc
        recognizer.AcceptWaveform(b"\0\0" * 16000)
        json.loads(recognizer.FinalResult())
        self.stderr.write("Model loads and decodes.")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(archive: Path, into: Path) -> None:
    """Unpack a .zip or .tar(.gz); members that would land outside `into` (or links) are refused."""
    into.mkdir(parents=True)
    name = archive.name.lower()
    try:
        if name.endswith(".zip") or zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    destination = (into / member).resolve()
                    if not destination.is_relative_to(into.resolve()):
                        raise CommandError(f"{archive.name}: unsafe path {member!r} in the archive.")
                zf.extractall(into)  # noqa: S202 (every member was checked above)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(into, filter="data")
        else:
            raise CommandError(f"{archive.name} is not a .zip or .tar.gz archive.")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise CommandError(f"{archive.name} could not be unpacked: {exc}") from exc
