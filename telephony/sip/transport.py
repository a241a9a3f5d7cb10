"""SIP transport layer (RFC 3261 18): the process's UDP socket or TCP listener and connections.

aiosipua provides the framing, parsing and sending; here: binding (and learning the port really bound), ICMP
unreachable detection for UDP, and opening the TCP connection to the trunk once. Messages are handed up through
`on_message(message, addr)`; nothing here knows about transactions or calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from aiosipua import SipMessage, TcpSipTransport, UdpSipTransport

log = logging.getLogger(__name__)

IP_RECVERR = 11  # Linux <linux/in.h>; IPV6_RECVERR is 25
IPV6_RECVERR = 25


class UdpTransport(UdpSipTransport):
    """aiosipua's UDP transport, bound without its protocol's isinstance assertion (it fails on 3.11's selector
    datagram transport and prints a traceback on every start).

    On Linux it also asks for ICMP errors (IP_RECVERR): an unconnected UDP socket otherwise never learns that the
    trunk's port is closed. The error queue hands back the datagram that bounced, so its Call-ID says which call
    to fail (`on_unreachable`)."""

    on_unreachable = None  # callable(call_id, detail)

    async def start(self) -> None:
        owner = self
        host, port = self.local_addr
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((host, port))
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            if family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        self._sock = sock

        class _Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr) -> None:
                owner._dispatch(data, (str(addr[0]), int(addr[1])))

            def error_received(self, exc: Exception) -> None:
                log.debug("SIP socket error: %s", exc)
                owner._read_error_queue(exc)

        loop = asyncio.get_running_loop()
        self._udp_transport, _ = await loop.create_datagram_endpoint(_Protocol, sock=sock)
        self.local_addr = sock.getsockname()[:2]

    async def ensure_connection(self, dest: tuple[str, int]) -> None:
        """Connectionless: nothing to open."""

    def _read_error_queue(self, exc: Exception) -> None:
        for _ in range(64):
            try:
                data, _anc, _flags, addr = self._sock.recvmsg(65535, 512, socket.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError, OSError):
                return
            try:
                bounced = SipMessage.parse(data)
            except Exception:  # noqa: S112 - not one of ours
                continue
            if self.on_unreachable is not None and bounced.call_id:
                self.on_unreachable(bounced.call_id, f"{addr[0]}:{addr[1]} unreachable ({exc.strerror or exc})")


class TcpTransport(TcpSipTransport):
    """aiosipua's TCP transport, reporting the port it really listens on (0 = any)."""

    on_unreachable = None  # TCP reports a dead peer by refusing the connection instead

    async def start(self) -> None:
        await super().start()
        self.local_addr = self._server.sockets[0].getsockname()[:2]

    def is_connected(self, dest: tuple[str, int]) -> bool:
        return dest in self._connections  # aiosipua's table of open connections (ours by inheritance)

    async def ensure_connection(self, dest: tuple[str, int]) -> None:
        """Open (or reuse) the connection to `dest`; requests and their responses share it."""
        if not self.is_connected(dest):
            await self.connect(dest)


async def open_transport(host: str, port: int, protocol: str) -> UdpTransport | TcpTransport:
    """Bind a started transport on host:port (port 0 = any free port); `protocol` is "udp" or "tcp"."""
    kind = TcpTransport if protocol == "tcp" else UdpTransport
    transport = kind(local_addr=(host, port))
    await transport.start()
    return transport
