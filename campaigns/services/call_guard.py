"""What keeps a live call safe when PostgreSQL or Redis misbehave: its claim token, its lease and heartbeat, and
database writes taken off the call's audio path.

- The attempt row carries the claiming worker's token; every write a call makes after its claim is guarded by
  `status=dialing AND worker=token`, so a call that was (wrongly or rightly) declared lost can never overwrite
  the row that recovery ended and finalized.
- A lease in PostgreSQL and a heartbeat in Redis are renewed every third of CALL_LEASE_SECONDS by `LeaseKeeper`.
  Recovery (`dispatch.recover_abandoned`) declares a call lost only when both have lapsed: a worker whose
  database writes fail, or whose Redis was restarted, is still known to be alive by the other. Errors never kill
  the keeper; only a row that is no longer ours ("truly lost") stops the call. Rehearsal calls (RehearsalCall
  rows, their own heartbeat keys) are kept the same way and recovered by `rehearsals.recover_lost_calls`.
- `TurnWriter` stores turns (and honours opt-outs) from its own thread, retrying while the database is away, so
  a slow or paused database never freezes a person's line.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import redis
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, models
from django.utils import timezone

from campaigns.limits import ChannelLimiter, Limit, client
from campaigns.models import CallAttempt

log = logging.getLogger(__name__)

T = TypeVar("T")
# Errors that mean "the database is unreachable right now", not "this write is wrong".
DATABASE_DOWN = (OperationalError, InterfaceError)
HEARTBEAT_PREFIX = "robocall:call-alive:"
REHEARSAL_HEARTBEAT_PREFIX = "robocall:rehearsal-call-alive:"  # RehearsalCall ids overlap CallAttempt ids


def new_token() -> str:
    """Who claimed an attempt: host, process and a random part (a restarted process never reuses a token)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:200]


def lease_until() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.CALL_LEASE_SECONDS)


def heartbeat_key(attempt_id: int, prefix: str = HEARTBEAT_PREFIX) -> str:
    return f"{prefix}{attempt_id}"


def beat(attempt_id: int, token: str, prefix: str = HEARTBEAT_PREFIX) -> None:
    client().set(heartbeat_key(attempt_id, prefix), token, px=settings.CALL_LEASE_SECONDS * 1000)


def alive_in_redis(attempt_ids: list[int], prefix: str = HEARTBEAT_PREFIX) -> dict[int, bool]:
    """Which calls' workers renewed their heartbeat within a lease. Raises redis.RedisError when Redis cannot say."""
    if not attempt_ids:
        return {}
    found = client().mget([heartbeat_key(i, prefix) for i in attempt_ids])
    return {attempt_id: value is not None for attempt_id, value in zip(attempt_ids, found, strict=True)}


def retry_while_database_down(write: Callable[[], T], what: str, give_up_after: float | None = None) -> T:
    """Run `write`, retrying with backoff while the database is unreachable (a restart, a pause, a failover).
    Other errors are raised at once. After `give_up_after` seconds (default DATABASE_RETRY_SECONDS) the last
    error is raised."""
    deadline = time.monotonic() + (settings.DATABASE_RETRY_SECONDS if give_up_after is None else give_up_after)
    pause = 0.2
    while True:
        try:
            return write()
        except DATABASE_DOWN as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s: database unavailable (%s); retrying in %.1f s", what, str(exc).strip()[:200], pause)
            connection.close()  # a broken connection is not reused; the next try reconnects
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


class LeaseKeeper(threading.Thread):
    """Renews the attempt's lease (PostgreSQL), its heartbeat (Redis) and its channels while the call runs.

    Each renewal stands alone: a database or Redis error is logged and tried again at the next tick. When the
    database answers that the attempt is no longer ours (recovery ended it), `on_lost` is called once (the
    caller hangs up) and the keeper stops. `model` and `prefix` say whose row and heartbeat these are: a
    CallAttempt's by default, a RehearsalCall's for a rehearsal call (which takes no channel: no limits).
    """

    def __init__(
        self,
        attempt_id: int,
        token: str,
        limiter: ChannelLimiter,
        limits: list[Limit],
        call_id: str,
        on_lost: Callable[[], None],
        model: type[models.Model] = CallAttempt,
        prefix: str = HEARTBEAT_PREFIX,
    ) -> None:
        super().__init__(daemon=True, name=f"lease-{model._meta.model_name}-{attempt_id}")
        self.attempt_id, self.token = attempt_id, token
        self.model, self.prefix = model, prefix
        self.limiter, self.limits, self.call_id = limiter, limits, call_id
        self.on_lost = on_lost
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.CALL_LEASE_SECONDS / 3):
                self.renew_once()
                if self.lost.is_set():
                    return
        finally:
            connection.close()

    def beat(self) -> None:
        try:
            beat(self.attempt_id, self.token, self.prefix)
            self.limiter.renew(self.limits, self.call_id)
        except redis.RedisError as exc:
            log.warning("attempt %s: heartbeat/limits not renewed (%s); retrying", self.attempt_id, exc)

    def renew_once(self) -> None:
        self.beat()
        try:
            ours = self.model.objects.filter(
                id=self.attempt_id, status=self.model.Status.DIALING, worker=self.token
            ).update(lease_expires_at=lease_until())
        except DatabaseError as exc:
            log.warning("attempt %s: lease not renewed (%s); retrying", self.attempt_id, str(exc).strip()[:200])
            connection.close()
            return
        if not ours:
            log.error("attempt %s: no longer ours (recovered as lost); hanging up", self.attempt_id)
            self.lost.set()
            self.on_lost()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


class TurnWriter(threading.Thread):
    """Stores a live call's turns in order from its own thread; `put` never blocks the call's audio."""

    def __init__(self, write: Callable[[object], None], name: str) -> None:
        super().__init__(daemon=True, name=name)
        self._write = write
        self._items: queue.Queue = queue.Queue()
        self.failed: list[tuple[object, str]] = []

    def put(self, item: object) -> None:
        self._items.put(item)

    def run(self) -> None:
        try:
            while True:
                item = self._items.get()
                if item is None:
                    return
                try:
                    retry_while_database_down(lambda item=item: self._write(item), f"{self.name}: storing a turn")
                except DatabaseError as exc:
                    log.exception("%s: a turn could not be stored", self.name)
                    self.failed.append((item, str(exc)))
        finally:
            connection.close()

    def close(self, timeout: float | None = None) -> bool:
        """Wait until every turn put so far is stored (or given up on). True when the writer finished."""
        self._items.put(None)
        self.join(timeout=settings.DATABASE_RETRY_SECONDS + 5 if timeout is None else timeout)
        return not self.is_alive()
