"""Helpers for tests that run real Celery worker processes and receive real webhooks."""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.db import connection

from project.celery import app
from project.devservers import Worker


def database_url() -> str:
    """The test database, as a URL a worker subprocess can use."""
    db = connection.settings_dict
    host = db["HOST"] or db.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):
        return f"postgres://{db['USER']}@/{db['NAME']}?host={host}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def running_worker(settings, log_path, name: str = "test", concurrency: int = 2, **env):
    app.control.purge()  # nothing left over from an earlier run may reach this worker
    worker = start_worker(settings, log_path, name, concurrency, **env)
    try:
        yield worker
    finally:
        worker.stop()
        connection.close()


def start_worker(
    settings,
    log_path,
    name: str = "test",
    concurrency: int = 2,
    queues: str | None = None,
    beat: bool = True,
    wait: bool = True,
    **env,
) -> Worker:
    """A worker on every queue with the beat (`queues`, `beat` to split the roles); `env` overrides settings.
    wait=False returns at once (call wait_ready() later: workers started together load in parallel)."""
    base = {
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "CONN_MAX_AGE": "0",
        "DISPATCH_INTERVAL_SECONDS": "0.5",
        "WEBHOOK_BACKOFF_SECONDS": "0.2",
        "WEBHOOK_ALLOW_PRIVATE": "true",  # the tests' webhook receivers listen on 127.0.0.1
    }
    roles = {"beat": beat} | ({"queues": queues} if queues else {})
    worker = Worker(
        {**base, **{k: str(v) for k, v in env.items()}}, log_path, concurrency=concurrency, name=name, **roles
    )
    if wait:
        worker.wait_ready()
    return worker


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every POST; `fail_first` answers 503 that many times."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.requests.append({"headers": dict(self.headers), "body": body, "json": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def events(self, name: str) -> list[dict]:
        return [r for r in self.requests if r["json"]["event"] == name]
