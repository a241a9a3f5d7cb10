"""Whisper decodes for every worker process on this host (pipeline.asr_service), until stopped.

    ASR_SOCKET=/run/robocall/asr.sock manage.py asr_service      # ASR_PROCESSES decode processes, ASR_THREADS each

Workers with the same ASR_SOCKET send their answers here instead of each starting a service of its own; start
this before them (a worker whose ASR_SOCKET has no service fails to load its engines, and its call is not dialled).
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pipeline.asr_service import ASRService, serve


class Command(BaseCommand):
    help = "Run the host's ASR service (whisper decode processes) on ASR_SOCKET."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--socket", default=settings.ASR_SOCKET, help="Unix socket path (default: ASR_SOCKET)")
        parser.add_argument("--processes", type=int, default=settings.ASR_PROCESSES)
        parser.add_argument("--threads", type=int, default=settings.ASR_THREADS)

    def handle(self, *args, socket: str, processes: int, threads: int, **options) -> None:
        if not socket:
            raise CommandError("Set ASR_SOCKET (or --socket): the Unix socket the workers will connect to.")

        def ready(service: ASRService) -> None:
            self.stdout.write(f"ASR service on {socket}: {processes} decode process(es), {threads} thread(s) each")
            self.stdout.flush()

        serve(socket, processes, threads, announce=ready)
