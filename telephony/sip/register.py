"""REGISTER with the trunk (RFC 3261 10) for trunks that only route calls from a registered contact.

One registration per process, trunk account and local SIP address; refreshed at 90 % of the interval the
registrar grants. Digest challenges (401/407) and 423 Interval Too Brief are answered. Retransmitted over UDP
by the same client transaction as INVITE/BYE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiosipua import SipRequest, SipResponse, generate_branch, generate_call_id, generate_tag
from aiosipua.auth import SipDigestAuth
from aiosipua.headers import CSeq, Via, stringify_cseq, stringify_via
from aiosipua.utils import format_addr

from telephony.sip.config import TrunkConfig
from telephony.sip.endpoint import SipEndpoint, answer_digest
from telephony.sip.transaction import ClientTransaction, Timers, transaction_key

log = logging.getLogger(__name__)

REFRESH_AT = 0.9


class TrunkRegistration:
    _registry: dict[tuple, TrunkRegistration] = {}

    def __init__(self, endpoint: SipEndpoint, trunk: TrunkConfig, trunk_addr: tuple[str, int], timers: Timers):
        self.endpoint = endpoint
        self.trunk = trunk
        self.trunk_addr = trunk_addr
        self.timers = timers
        host, port = endpoint.local_addr
        user = trunk.username or trunk.caller_id or "robot"
        self.aor = f"sip:{user}@{trunk.sip_domain}"
        self.registrar_uri = f"sip:{trunk.sip_domain}" + ("" if trunk.port == 5060 else f":{trunk.port}")
        tcp = ";transport=tcp" if endpoint.reliable else ""
        self.contact = f"<sip:{user}@{format_addr(host, port)}{tcp}>"
        self.call_id = generate_call_id(host)
        self.from_tag = generate_tag()
        self.cseq = 0
        self.expires = trunk.register_expires
        self.granted = 0
        self.registered = False
        self.last: tuple[int | None, str] = (None, "not registered yet")
        self.transactions: dict[tuple[str, str], ClientTransaction] = {}
        self._task: asyncio.Task | None = None
        self._refresh: asyncio.TimerHandle | None = None
        endpoint.legs[self.call_id] = self  # responses are routed by Call-ID

    @classmethod
    def for_trunk(
        cls, endpoint: SipEndpoint, trunk: TrunkConfig, trunk_addr: tuple[str, int], timers: Timers
    ) -> TrunkRegistration:
        key = (endpoint, trunk.host, trunk.port, trunk.username, trunk.sip_domain)
        registration = cls._registry.get(key)
        if registration is None:
            registration = cls._registry[key] = cls(endpoint, trunk, trunk_addr, timers)
        return registration

    async def ensure(self) -> tuple[int | None, str]:
        """Registered already, or register now (concurrent dials share one REGISTER)."""
        if self.registered:
            return self.last
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.register())
        return await asyncio.shield(self._task)

    async def register(self, expires: int | None = None) -> tuple[int | None, str]:
        expires = self.expires if expires is None else expires
        challenged: set[str] = set()
        auth_header: tuple[str, str] | None = None
        auth = SipDigestAuth(self.trunk.username, self.trunk.password) if self.trunk.username else None
        too_brief_retried = False
        while True:
            tx = ClientTransaction(self.endpoint, self._build(expires, auth_header), self.trunk_addr, self.timers)
            if len(self.transactions) > 8:  # refreshes go on for the life of the process
                self.transactions.clear()
            self.transactions[tx.key] = tx
            try:
                response = await tx.start().final
            except TimeoutError:
                return self._failed(None, "no response to REGISTER (Timer F)")
            code = response.status_code
            if code in (401, 407) and auth is not None:
                auth_header = answer_digest(auth, response, "REGISTER", self.registrar_uri, challenged)
                if auth_header is not None:
                    continue
            if code == 423 and not too_brief_retried:
                with contextlib.suppress(ValueError):
                    expires = max(expires, int(response.get_header("min-expires") or "0"))
                    self.expires = expires
                    too_brief_retried = True
                    continue
            if 200 <= code < 300:
                self._registered(response, expires)
                return self.last
            return self._failed(code, f"{code} {response.reason_phrase}")

    def _build(self, expires: int, auth_header: tuple[str, str] | None) -> SipRequest:
        host, port = self.endpoint.local_addr
        self.cseq += 1
        request = SipRequest(method="REGISTER", uri=self.registrar_uri)
        branch = {"branch": generate_branch(), "rport": None}
        via = Via(transport=self.endpoint.protocol, host=host, port=port, params=branch)
        request.headers.append("Via", stringify_via(via))
        request.headers.set_single("Max-Forwards", "70")
        request.headers.set_single("From", f"<{self.aor}>;tag={self.from_tag}")
        request.headers.set_single("To", f"<{self.aor}>")
        request.headers.set_single("Call-ID", self.call_id)
        request.headers.set_single("CSeq", stringify_cseq(CSeq(seq=self.cseq, method="REGISTER")))
        request.headers.set_single("Contact", self.contact)
        request.headers.set_single("Expires", str(expires))
        request.headers.set_single("User-Agent", self.trunk.user_agent)
        if auth_header is not None:
            request.headers.set_single(*auth_header)
        return request

    def _registered(self, response: SipResponse, asked: int) -> None:
        granted = asked
        for contact in response.contact:
            value = contact.params.get("expires")
            if value and value.isdigit():
                granted = int(value)
                break
        else:
            header = (response.get_header("expires") or "").strip()
            if header.isdigit():
                granted = int(header)
        self.granted = granted
        self.registered = granted > 0
        self.last = (response.status_code, f"{response.status_code} {response.reason_phrase}")
        log.info("SIP registered %s for %d s", self.aor, granted)
        if self._refresh is not None:
            self._refresh.cancel()
        if granted > 0:
            self._refresh = asyncio.get_running_loop().call_later(granted * REFRESH_AT, self._on_refresh)

    def _on_refresh(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.register())

    def _failed(self, code: int | None, reason: str) -> tuple[int | None, str]:
        self.registered = False
        self.last = (code, reason)
        log.warning("SIP REGISTER %s failed: %s", self.aor, reason)
        return self.last

    def on_response(self, response: SipResponse) -> None:
        tx = self.transactions.get(transaction_key(response))
        if tx is not None:
            tx.on_response(response)

    def on_request(self, request: SipRequest) -> None:  # nothing is sent inside a registration
        pass
