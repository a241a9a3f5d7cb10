"""Trunk settings handed in by the caller (the Django Trunk model maps onto this)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TrunkConfig:
    """Where and how to send calls.

    host/port: the trunk, PBX or proxy that receives our INVITEs (every out-of-dialog request goes there).
    domain: host part of the From/To/Request-URI; defaults to `host`.
    username/password: digest credentials used to answer 401/407 challenges (empty: no auth).
    caller_id: From user when `dial()` is given no caller id.
    from_user: put this (e.g. the account) in From instead of the caller id, which then travels in
    P-Asserted-Identity; asserted_identity: send P-Asserted-Identity with the caller id anyway.
    local_host: the address to bind and advertise in Via/Contact/SDP; default: the address the OS would use
    to reach `host` (so 127.0.0.1 for a local peer).
    local_port: SIP source port (0 = any free port; one socket per process and local address).
    register: trunks that only route calls from a registered contact; registration is per process.
    session_expires: ask the trunk for RFC 4028 session timers (seconds, >= 90); we refresh with re-INVITEs.
    A trunk that imposes timers itself is honoured whatever this says.
    """

    host: str
    port: int = 5060
    transport: str = "udp"
    username: str = ""
    password: str = field(default="", repr=False)
    caller_id: str = ""
    from_user: str = ""
    asserted_identity: bool = False
    domain: str = ""
    local_host: str = ""
    local_port: int = 0
    user_agent: str = "campaign-robot"
    codecs: tuple[str, ...] = ("PCMU", "PCMA")  # offer order; the answer picks
    register: bool = False  # REGISTER (username@domain) before the first call, refreshed while the process lives
    register_expires: int = 300
    session_expires: int = 0  # >0: ask for RFC 4028 session timers and refresh with re-INVITEs (e.g. 1800)

    def __post_init__(self) -> None:
        if self.transport.lower() not in ("udp", "tcp"):
            raise ValueError(f"SIP transport {self.transport!r} is not supported (use 'udp' or 'tcp')")
        unknown = set(self.codecs) - {"PCMU", "PCMA"}
        if unknown or not self.codecs:
            raise ValueError(f"codecs must be PCMU and/or PCMA, got {self.codecs!r}")

    @property
    def sip_domain(self) -> str:
        return self.domain or self.host
