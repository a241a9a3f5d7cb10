"""The receive side's playout (jitter) buffer, fed by telephony.sip.media with PCM decoded on arrival.

aiortp's AdaptivePlayout (timestamp-keyed, loss concealment, depth following measured jitter) with a depth floor.
"""

from __future__ import annotations

from aiortp.playout import AdaptivePlayout

from telephony.sip.g711 import G711

MIN_PLAYOUT_FRAMES = 3


class _Pcm(G711):
    """What the playout buffer holds: 16-bit PCM already decoded on arrival (decode is the identity)."""

    name = "L16"

    def decode(self, payload: bytes) -> bytes:
        return payload


class PlayoutBuffer(AdaptivePlayout):
    """aiortp's adaptive playout with a depth floor: its target follows measured jitter from one frame up, which
    drops every reordered packet until the estimate catches up. MIN_PLAYOUT_FRAMES (60 ms) absorbs a swapped
    neighbour and ordinary jitter from the first packet; it still grows towards max_delay_ms with jitter."""

    def __init__(self, max_delay_ms: int = 200) -> None:
        super().__init__(_Pcm(), max_delay_ms=max_delay_ms)

    @property
    def target_frames(self) -> int:
        return max(MIN_PLAYOUT_FRAMES, super().target_frames)

    def put(self, timestamp: int, payload: bytes) -> None:
        # Start (and restart after a pause) at the floor depth instead of aiortp's two frames.
        if self._head is None and len(self._frames) + 1 < MIN_PLAYOUT_FRAMES:
            self._measure_jitter(timestamp)
            self._frames[timestamp] = payload
            return
        super().put(timestamp, payload)
