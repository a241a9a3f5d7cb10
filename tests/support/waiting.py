"""Polling for something that happens in another process (a peer, a worker), with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.05) -> bool:
    """True as soon as `predicate()` is truthy; False once `timeout` seconds have passed without it."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_for_worker(predicate: Callable[[], object], worker, what: str, seconds: float = 120) -> None:
    """Like wait_for, for a condition a Celery worker brings about: fails at once if the worker died, and shows
    the end of its log either way."""

    def done() -> bool:
        assert worker.alive(), f"{what}: the worker died; its log:\n{worker.log_tail()}"
        return bool(predicate())

    assert wait_for(done, seconds, interval=0.3), f"{what}; worker log:\n{worker.log_tail()}"
