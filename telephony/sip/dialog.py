"""SIP dialog layer (RFC 3261 12, 13.2.2.4): the dialog of one outbound INVITE and what travels inside it.

Owns the dialog state (aiosipua's Dialog: tags, remote target, route set, CSeq), the call's client transactions
keyed for matching responses, where in-dialog requests go, the ACK of every 2xx (kept and re-sent when that 2xx
is retransmitted: the INVITE transaction is over by then) and our responses to the peer's in-dialog requests.
What the call does with them is the leg's business (telephony.sip.leg).
"""

from __future__ import annotations

import socket

from aiosipua import (
    Dialog,
    DialogState,
    SipRequest,
    SipResponse,
    generate_call_id,
    generate_tag,
    parse_uri,
    stringify_uri,
)
from aiosipua.headers import CSeq, stringify_cseq

from telephony.sip.endpoint import ALLOW, SipEndpoint, response_to
from telephony.sip.transaction import ClientTransaction, Timers, transaction_key


class CallDialog:
    """The dialog of a call we place: early until `confirm()` with the 2xx, then confirmed until `terminate()`."""

    def __init__(
        self,
        endpoint: SipEndpoint,
        trunk_addr: tuple[str, int],
        timers: Timers,
        local_uri: str,
        remote_uri: str,
        contact: str,
    ) -> None:
        self.endpoint = endpoint
        self.trunk_addr = trunk_addr
        self.timers = timers
        self.contact = contact
        self.transactions: dict[tuple[str, str], ClientTransaction] = {}
        self._dialog = Dialog(
            call_id=generate_call_id(endpoint.local_addr[0]),
            local_tag=generate_tag(),
            local_uri=local_uri,
            remote_uri=remote_uri,
            remote_target=remote_uri,
        )
        self._acks: dict[int, SipRequest] = {}  # ACK per 2xx'd INVITE CSeq, re-sent on 2xx retransmissions

    @property
    def call_id(self) -> str:
        return self._dialog.call_id

    @property
    def local_tag(self) -> str:
        return self._dialog.local_tag

    @property
    def remote_target(self) -> str:
        return self._dialog.remote_target

    @property
    def confirmed(self) -> bool:
        return self._dialog.state == DialogState.CONFIRMED

    def next_cseq(self) -> int:
        return self._dialog.next_cseq()

    # -- requests ----------------------------------------------------------------------------------

    def request(self, method: str) -> SipRequest:
        """An in-dialog request (next CSeq, To with the remote tag, Route set) with our Via."""
        host, port = self.endpoint.local_addr
        return self._dialog.create_request(method, via_host=host, via_port=port, via_transport=self.endpoint.protocol)

    def start(self, request: SipRequest, dest: tuple[str, int] | None = None) -> ClientTransaction:
        """Send `request` in a client transaction, to `dest` or else the in-dialog destination."""
        tx = ClientTransaction(self.endpoint, request, dest or self.destination(), self.timers)
        self.transactions[tx.key] = tx
        return tx.start()

    def transaction_for(self, response: SipResponse) -> ClientTransaction | None:
        return self.transactions.get(transaction_key(response))

    def destination(self) -> tuple[str, int]:
        """In-dialog requests go to the first Record-Route hop, else the remote target; IPs only, else trunk.
        Over TCP everything goes through the trunk connection."""
        if self.endpoint.reliable:
            return self.trunk_addr
        route_set = self._dialog.route_set
        target = route_set[0].strip("<>").split(">")[0] if route_set else None
        uri = parse_uri(target or self._dialog.remote_target)
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in uri.host else socket.AF_INET, uri.host.strip("[]"))
        except OSError:
            return self.trunk_addr  # a name: let the trunk route it
        return (uri.host.strip("[]"), uri.port or 5060)

    # -- 2xx and ACK -------------------------------------------------------------------------------

    def confirm(self, response: SipResponse, invite_seq: int, ack_headers: dict[str, str]) -> None:
        """2xx to our INVITE: confirm the dialog from it (remote tag, Contact, Record-Route) and ACK it."""
        to = response.to_addr
        self._dialog.remote_tag = to.tag if to and to.tag else ""
        contacts = response.contact
        if contacts:
            self._dialog.remote_target = stringify_uri(contacts[0].uri)
        self._dialog.route_set = list(reversed(response.headers.get("record-route")))
        self._dialog.state = DialogState.CONFIRMED
        self.ack(invite_seq, {"Contact": self.contact, **ack_headers})

    def ack(self, invite_seq: int, headers: dict[str, str] | None = None) -> None:
        """ACK the 2xx to the INVITE with CSeq `invite_seq`; kept for that 2xx's retransmissions."""
        ack = self.request("ACK")
        self._dialog.local_cseq = invite_seq  # ACK does not consume a CSeq number
        ack.headers.set_single("CSeq", stringify_cseq(CSeq(seq=invite_seq, method="ACK")))
        for name, value in (headers or {}).items():
            ack.headers.set_single(name, value)
        self._acks[invite_seq] = ack
        self.endpoint.send(ack, self.destination())

    def reack(self, response: SipResponse) -> bool:
        """A retransmitted 2xx to an INVITE we ACKed already: ACK it again. False for any other response."""
        cseq = response.cseq
        ack = self._acks.get(cseq.seq) if cseq is not None and cseq.method.upper() == "INVITE" else None
        if ack is None or not 200 <= response.status_code < 300:
            return False
        self.endpoint.send(ack, self.destination())
        return True

    # -- a dialog the peer's INVITE creates (we are the UAS: telephony.sip.inbound) -----------------

    def adopt_incoming(self, invite: SipRequest) -> None:
        """Take the dialog's identity from a call to us: their Call-ID, tag, Contact and Record-Route (in order)."""
        self._dialog.call_id = invite.call_id or ""
        sender = invite.from_addr
        self._dialog.remote_tag = sender.tag if sender is not None and sender.tag else ""
        contacts = invite.contact
        if contacts:
            self._dialog.remote_target = stringify_uri(contacts[0].uri)
        self._dialog.route_set = list(invite.headers.get("record-route"))
        self._dialog.remote_cseq = invite.cseq.seq if invite.cseq else 0

    def confirm_incoming(self) -> None:
        """We sent the 2xx to their INVITE: the dialog is confirmed (RFC 3261 12.1.1)."""
        self._dialog.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self._dialog.state = DialogState.TERMINATED

    # -- the peer's in-dialog requests -------------------------------------------------------------

    def response(self, request: SipRequest, code: int, reason: str) -> SipResponse:
        response = response_to(request, code, reason, self.local_tag)
        response.headers.set_single("Contact", self.contact)
        response.headers.set_single("Allow", ALLOW)
        return response

    def reply(self, request: SipRequest, code: int, reason: str) -> None:
        self.endpoint.reply(self.response(request, code, reason), request)
