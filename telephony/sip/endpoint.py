"""The SIP endpoint (RFC 3261 8, the UA core): one per process and local address, shared by every call.

Owns the transport, hands each incoming message to the call leg or registration with its Call-ID (they feed
their transactions and dialog), answers what belongs to no call (OPTIONS pings, offered INVITEs, strays), and
sends. Also here: building a response to a request, and answering a digest challenge (401/407) for any
request (INVITE, BYE via the leg, REGISTER).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiosipua import SipRequest, SipResponse, generate_tag
from aiosipua.auth import SipDigestAuth, answer_challenge
from aiosipua.headers import AuthChallenge, parse_auth

from telephony.sip.transport import TcpTransport, UdpTransport, open_transport

if TYPE_CHECKING:
    from telephony.sip.leg import CallLeg

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY"


def response_to(request: SipRequest, code: int, reason: str, to_tag: str = "") -> SipResponse:
    """A response to `request` (RFC 3261 8.2.6): Via, From, Call-ID and CSeq copied, `to_tag` added to To."""
    response = SipResponse(status_code=code, reason_phrase=reason)
    for via in request.headers.get("via"):
        response.headers.append("Via", via)
    for name in ("From", "Call-ID", "CSeq"):
        value = request.headers.get_first(name)
        if value:
            response.headers.set_single(name, value)
    to = request.headers.get_first("to") or ""
    if to_tag and ";tag=" not in to:
        to += f";tag={to_tag}"
    response.headers.set_single("To", to)
    return response


def answer_digest(
    auth: SipDigestAuth, response: SipResponse, method: str, uri: str, challenged: set[str]
) -> tuple[str, str] | None:
    """(header, value) answering a 401/407, or None when the server is refusing credentials already tried
    (a second challenge that is not `stale=true`, or the same nonce again)."""
    code = response.status_code
    raw = response.get_header("WWW-Authenticate" if code == 401 else "Proxy-Authenticate") or ""
    challenge: AuthChallenge = parse_auth(raw) if raw else AuthChallenge()
    nonce = challenge.params.get("nonce", "")
    stale = challenge.params.get("stale", "").lower() == "true"
    if not nonce or (challenged and not stale) or nonce in challenged or len(challenged) >= 3:
        return None
    challenged.add(nonce)
    return answer_challenge(auth, response, code, method, uri)


class SipEndpoint:
    """One SIP socket (UDP) or listener plus connections (TCP) per process, local address and transport, shared
    by every call; routes by Call-ID."""

    _registry: dict[tuple[str, int, str], SipEndpoint] = {}
    _lock: asyncio.Lock | None = None
    _lock_loop: asyncio.AbstractEventLoop | None = None

    def __init__(self, transport: UdpTransport | TcpTransport) -> None:
        self.transport = transport
        self.protocol = "TCP" if transport.reliable else "UDP"
        self.loop = asyncio.get_running_loop()
        self.legs: dict[str, CallLeg] = {}
        self.on_invite: Callable[[SipRequest], None] | None = None  # calls to us (telephony.sip.inbound)
        transport.on_message = self._on_message
        transport.on_unreachable = self._on_unreachable

    def _on_unreachable(self, call_id: str, detail: str) -> None:
        leg = self.legs.get(call_id)
        if leg is not None:
            leg.on_unreachable(detail)

    @classmethod
    async def get(cls, host: str, port: int, protocol: str = "udp") -> SipEndpoint:
        loop = asyncio.get_running_loop()
        if cls._lock is None or cls._lock_loop is not loop:  # first use, or a forked child's new loop
            cls._lock, cls._lock_loop = asyncio.Lock(), loop
        key = (host, port, protocol.lower())
        async with cls._lock:
            endpoint = cls._registry.get(key)
            if endpoint is None or endpoint.loop is not loop:
                transport = await open_transport(host, port, key[2])
                endpoint = cls(transport)
                cls._registry[key] = endpoint
                log.info("SIP endpoint listening on %s:%s/%s", *transport.local_addr, key[2])
        return endpoint

    @property
    def local_addr(self) -> tuple[str, int]:
        return self.transport.local_addr

    @property
    def reliable(self) -> bool:
        return self.transport.reliable

    async def connect(self, dest: tuple[str, int]) -> None:
        """TCP: open (or reuse) the connection to `dest`; requests and their responses share it."""
        await self.transport.ensure_connection(dest)

    def send(self, message, dest: tuple[str, int]) -> None:
        log.debug("SIP -> %s:%s\n%s", *dest, bytes(message).decode(errors="replace"))
        self.transport.send(message, dest)

    def reply(self, response: SipResponse, request: SipRequest) -> None:
        """UDP: to the request's Via (received/rport); TCP: back on the connection the request came on."""
        source = getattr(request, "source", None)
        if self.reliable and source is not None:
            self.send(response, source)
        else:
            self.transport.send_reply(response)

    def release(self, call_id: str, after: float) -> None:
        asyncio.get_running_loop().call_later(after, self.legs.pop, call_id, None)

    def _on_message(self, message, addr) -> None:
        log.debug("SIP <- %s:%s\n%s", *addr, bytes(message).decode(errors="replace"))
        message.source = addr
        leg = self.legs.get(message.call_id or "")
        if isinstance(message, SipResponse):
            if leg is not None:
                leg.on_response(message)
            return
        if leg is not None:
            leg.on_request(message)
        elif message.method == "OPTIONS":  # trunk keep-alive pings
            response = response_to(message, 200, "OK", generate_tag())
            response.headers.set_single("Allow", ALLOW)
            self.reply(response, message)
        elif message.method == "INVITE" and self.on_invite is not None:
            self.on_invite(message)
        elif message.method == "INVITE":  # nobody takes calls on this endpoint
            self.reply(response_to(message, 603, "Decline", generate_tag()), message)
        elif message.method != "ACK":
            self.reply(response_to(message, 481, "Call/Transaction Does Not Exist", generate_tag()), message)
