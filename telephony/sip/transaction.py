"""SIP transaction layer (RFC 3261 17.1): client transactions, their timers and the requests built from them.

Owns retransmission over UDP (Timers A/E), giving up (Timers B/F), the ACK for a non-2xx final response (part of
the INVITE transaction; aiosipua only ACKs 2xx) and the CANCEL of a pending INVITE. Transactions are keyed by
(Via branch, method); their user (a call's dialog, a registration) keeps them and feeds them responses.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiosipua import SipRequest, SipResponse
from aiosipua.headers import CSeq, stringify_cseq

if TYPE_CHECKING:
    from telephony.sip.endpoint import SipEndpoint


@dataclass
class Timers:
    """RFC 3261 timer base; tests shrink T1 to exercise retransmission and Timer B quickly."""

    t1: float = 0.5
    t2: float = 4.0

    @property
    def b(self) -> float:  # also F and H: 64*T1
        return 64 * self.t1

    @property
    def d(self) -> float:  # linger after a final response, for retransmissions (UDP)
        return max(32.0, 64 * self.t1) if self.t1 >= 0.5 else 64 * self.t1


def branch_of(message) -> str:
    """The branch parameter of the top Via: with the CSeq method, what matches a response to its transaction."""
    vias = message.headers.get("via")
    if not vias:
        return ""
    for part in vias[0].split(";")[1:]:
        name, _, value = part.strip().partition("=")
        if name.lower() == "branch":
            return value
    return ""


def transaction_key(response: SipResponse) -> tuple[str, str]:
    """(branch, method) of the client transaction a response belongs to."""
    cseq = response.cseq
    return (branch_of(response), cseq.method.upper() if cseq else "")


class ClientTransaction:
    """RFC 3261 17.1 client transaction. `final` resolves with the final response (TimeoutError on Timer B/F,
    ConnectionRefusedError on ICMP unreachable). INVITE: Timer A until the first provisional (UDP only),
    Timer B only while nothing at all was heard, ACK (same branch) for every non-2xx final and its
    retransmissions. Non-INVITE: Timer E (UDP only), Timer F."""

    def __init__(self, endpoint: SipEndpoint, request: SipRequest, dest: tuple[str, int], timers: Timers):
        self.endpoint = endpoint
        self.request = request
        self.dest = dest
        self.timers = timers
        self.method = request.method
        self.branch = branch_of(request)
        self.final: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self.proceeding = False
        self.sends = 0
        self.first_response_at: float | None = None
        self._ack: SipRequest | None = None
        self._retransmit: asyncio.TimerHandle | None = None
        self._timeout: asyncio.TimerHandle | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.branch, self.method)

    def start(self) -> ClientTransaction:
        loop = asyncio.get_running_loop()
        self._send()
        if not self.endpoint.reliable:  # TCP delivers or fails; only Timer B/F apply
            self._retransmit = loop.call_later(self.timers.t1, self._on_retransmit, self.timers.t1)
        self._timeout = loop.call_later(self.timers.b, self.fail)
        return self

    def _send(self) -> None:
        self.sends += 1
        self.endpoint.send(self.request, self.dest)

    def _on_retransmit(self, interval: float) -> None:
        if self.final.done() or (self.method == "INVITE" and self.proceeding):
            return
        self._send()
        if self.method == "INVITE":
            interval *= 2
        else:
            interval = self.timers.t2 if self.proceeding else min(2 * interval, self.timers.t2)
        self._retransmit = asyncio.get_running_loop().call_later(interval, self._on_retransmit, interval)

    def fail(self, error: Exception | None = None) -> None:
        """Timer B/F, the TU giving up, or a transport error: no (further) final response will be waited for."""
        self._stop_timers()
        if not self.final.done():
            self.final.set_exception(error or TimeoutError(f"{self.method}: no final response"))

    def on_response(self, response: SipResponse) -> None:
        code = response.status_code
        if self.first_response_at is None:
            self.first_response_at = time.monotonic()
        if code < 200:
            if not self.proceeding:
                self.proceeding = True
                if self.method == "INVITE" and self._timeout is not None:
                    self._timeout.cancel()  # Timer B only runs in the Calling state
            return
        if self.method == "INVITE" and code >= 300:
            if self._ack is None:
                self._ack = self._build_ack(response)
            self.endpoint.send(self._ack, self.dest)  # also re-ACKs retransmitted finals
        self._stop_timers()
        if not self.final.done():
            self.final.set_result(response)

    def _build_ack(self, response: SipResponse) -> SipRequest:
        """ACK for a non-2xx final: part of the INVITE transaction (RFC 3261 17.1.1.3)."""
        invite = self.request
        ack = SipRequest(method="ACK", uri=invite.uri)
        ack.headers.append("Via", invite.headers.get_first("via"))
        for name in ("From", "Call-ID"):
            ack.headers.set_single(name, invite.headers.get_first(name))
        ack.headers.set_single("To", response.headers.get_first("to"))
        ack.headers.set_single("CSeq", stringify_cseq(CSeq(seq=invite.cseq.seq, method="ACK")))
        ack.headers.set_single("Max-Forwards", "70")
        for route in invite.headers.get("route"):
            ack.headers.append("Route", route)
        return ack

    def _stop_timers(self) -> None:
        for handle in (self._retransmit, self._timeout):
            if handle is not None:
                handle.cancel()


def build_cancel(invite: SipRequest, user_agent: str) -> SipRequest:
    """CANCEL (RFC 3261 9.1): same Request-URI, Call-ID, From, To, top Via and CSeq number as the INVITE."""
    cancel = SipRequest(method="CANCEL", uri=invite.uri)
    cancel.headers.append("Via", invite.headers.get_first("via"))
    for name in ("Max-Forwards", "From", "To", "Call-ID"):
        cancel.headers.set_single(name, invite.headers.get_first(name))
    cancel.headers.set_single("CSeq", stringify_cseq(CSeq(seq=invite.cseq.seq, method="CANCEL")))
    cancel.headers.set_single("User-Agent", user_agent)
    for route in invite.headers.get("route"):
        cancel.headers.append("Route", route)
    return cancel
