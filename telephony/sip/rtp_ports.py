"""RTP/RTCP port pairs for calls: even RTP port, RTCP on the odd port above, from a configured range."""

from __future__ import annotations

import random
import socket


class PortAllocator:
    """Hands out even RTP ports from a range, skipping ports another process holds."""

    def __init__(self, start: int, end: int) -> None:
        if start < 1024 or end <= start:
            raise ValueError(f"bad RTP port range {start}-{end}")
        self.start, self.end = start + start % 2, end
        self._next = self.start + 2 * random.randrange((end - self.start) // 2)  # noqa: S311 - not crypto

    def bind(self, host: str) -> tuple[socket.socket, socket.socket]:
        """An even RTP port and the odd RTCP port above it, both free."""
        span = (self.end - self.start) // 2
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        for _ in range(span):
            port = self._next
            self._next = port + 2 if port + 2 < self.end else self.start
            pair = [socket.socket(family, socket.SOCK_DGRAM), socket.socket(family, socket.SOCK_DGRAM)]
            try:
                pair[0].bind((host, port))
                pair[1].bind((host, port + 1))
            except OSError:
                for sock in pair:
                    sock.close()
                continue
            for sock in pair:
                sock.setblocking(False)
            return pair[0], pair[1]
        raise OSError(f"no free RTP port pair in {self.start}-{self.end} on {host}")
