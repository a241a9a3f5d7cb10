"""Channel and calls-per-second limits that hold across every worker host, kept in Redis.

A limit key (a trunk, or a campaign without one) has a sorted set of live calls scored by lease expiry and a
sorted set of recent dial times. Acquiring is one Lua script, so two hosts can never both take the last channel
or the last dial of a second. Leases expire by themselves: a worker that dies frees its channel when its lease
runs out, not never.

Redis may lose everything (a restart of a server that keeps nothing on disk). Then the first acquire rebuilds
the live sets from the caller's source of truth (`live_calls`: the attempts being dialled, from PostgreSQL)
before any new call is let through, and renewals re-register a live call that Redis forgot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import redis
from django.conf import settings

_ACQUIRE = """
local live, starts = KEYS[1], KEYS[2]
local call_id, max_live, lease_ms = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local dial_slots, window_ms = tonumber(ARGV[3]), tonumber(ARGV[5])
-- Redis lost the live sets (restart, flush): the caller rebuilds them before anyone takes a channel.
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[3]) == 0 then return -2 end
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', live, '-inf', now_ms)
redis.call('ZREMRANGEBYSCORE', starts, '-inf', now_ms - window_ms)
if redis.call('ZSCORE', live, call_id) then
  redis.call('ZADD', live, now_ms + lease_ms, call_id)
  return now_ms
end
if redis.call('ZCARD', live) >= max_live then return 0 end
if redis.call('ZCARD', starts) >= dial_slots then return -1 end
redis.call('ZADD', live, now_ms + lease_ms, call_id)
redis.call('ZADD', starts, now_ms, call_id)
redis.call('PEXPIRE', live, lease_ms * 2)
redis.call('PEXPIRE', starts, window_ms * 2)
return now_ms  -- the moment the slot was taken, on Redis's clock
"""

# Unconditional: a live call is live even if Redis forgot it (restart), so it takes its place back.
_RENEW = """
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 1
"""
STATE_KEY = "limit:state"  # present while Redis holds the live sets; absent after a restart or a flush
REBUILD_LOCK = "limit:rebuild"


@lru_cache(maxsize=1)
def client() -> redis.Redis:
    url = settings.REDIS_URL
    if url.startswith("redis+socket://"):  # kombu's spelling of a unix socket; redis-py says unix://
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


@dataclass(frozen=True)
class Limit:
    key: str
    max_concurrent: int
    calls_per_second: float

    @property
    def dial_window(self) -> tuple[int, int]:
        """(dials allowed, per window in ms): 2.5/s -> 2 per 1000 ms; 0.5/s -> 1 per 2000 ms."""
        if self.calls_per_second >= 1:
            return int(self.calls_per_second), 1000
        return 1, int(1000 / max(self.calls_per_second, 0.001))


class ChannelLimiter:
    def __init__(self, lease_seconds: int) -> None:
        self.lease_ms = lease_seconds * 1000
        self.acquired_at_ms = 0  # Redis's clock when the last acquire took its slots (a dial's true start)
        self._acquire = client().register_script(_ACQUIRE)
        self._renew = client().register_script(_RENEW)

    def acquire(
        self, limits: list[Limit], call_id: str, live_calls: Callable[[], dict[str, list[str]]] | None = None
    ) -> str | None:
        """Take a channel and a dial slot under every limit, all or nothing. None on success, else why not.

        `live_calls` (limit key -> call ids live now) rebuilds the live sets first if Redis lost them.
        """
        taken: list[Limit] = []
        for index, limit in enumerate(limits):
            dials, window_ms = limit.dial_window

            def take(check_state: bool, limit: Limit = limit, dials: int = dials, window_ms: int = window_ms) -> int:
                return self._acquire(
                    keys=[f"limit:{limit.key}:live", f"limit:{limit.key}:starts", STATE_KEY],
                    args=[call_id, limit.max_concurrent, dials, self.lease_ms, window_ms, int(check_state)],
                )

            # The first script also says whether Redis still holds the live sets (no round trip of its own).
            result = take(live_calls is not None and index == 0)
            if result == -2:
                if not self.rebuild(live_calls):
                    return "limits are being rebuilt after Redis lost them"
                result = take(False)
            if result <= 0:
                self.release(taken, call_id)
                return f"{limit.key}: {'all channels busy' if result == 0 else 'calls-per-second limit'}"
            taken.append(limit)
            self.acquired_at_ms = result
        return None

    def rebuild(self, live_calls: Callable[[], dict[str, list[str]]]) -> bool:
        """Put every live call back under its limits; one process does it while the others wait. True when done."""
        if not client().set(REBUILD_LOCK, "1", nx=True, px=10_000):
            return False
        try:
            seconds, micros = client().time()
            expires_ms = seconds * 1000 + micros // 1000 + self.lease_ms  # as if each call had just renewed
            pipe = client().pipeline()
            for key, call_ids in live_calls().items():
                pipe.zadd(f"limit:{key}:live", dict.fromkeys(call_ids, expires_ms))
                pipe.pexpire(f"limit:{key}:live", self.lease_ms * 2)
            pipe.set(STATE_KEY, "1")
            pipe.execute()
            return True
        finally:
            client().delete(REBUILD_LOCK)

    def renew(self, limits: list[Limit], call_id: str) -> None:
        for limit in limits:
            self._renew(keys=[f"limit:{limit.key}:live"], args=[call_id, self.lease_ms])

    def release(self, limits: list[Limit], call_id: str, also_delete: tuple[str, ...] = ()) -> None:
        """Free the call's channels (and delete `also_delete` keys with them: one round trip for all)."""
        pipe = client().pipeline(transaction=False)
        for limit in limits:
            pipe.zrem(f"limit:{limit.key}:live", call_id)
        if also_delete:
            pipe.delete(*also_delete)
        pipe.execute()
