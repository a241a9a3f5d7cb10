"""One asyncio event loop per process, on a daemon thread, for all SIP signalling and RTP media.

Callers live in ordinary threads (a Celery worker, a test); they hand coroutines to this loop with `run()`
and wait for the result. After a fork (Celery prefork) the child starts its own loop on first use.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid: int | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """The process's SIP/RTP event loop, started on first use (and again in a forked child)."""
    global _loop, _pid
    with _lock:
        if _loop is None or _pid != os.getpid() or not _loop.is_running():
            ready = threading.Event()
            loop = asyncio.new_event_loop()

            def _run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=_run, name="sip-event-loop", daemon=True).start()
            ready.wait(5)
            _loop, _pid = loop, os.getpid()
        return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run `coro` on the SIP loop from another thread and wait for its result."""
    loop = get_loop()
    if _in_loop_thread(loop):
        coro.close()
        raise RuntimeError("telephony.sip.loop.run() called from the SIP event loop itself")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def call_soon(callback, *args) -> None:
    """Schedule a plain callback on the SIP loop (thread-safe, does not wait)."""
    get_loop().call_soon_threadsafe(callback, *args)


def _in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
