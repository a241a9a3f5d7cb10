"""SDP offer/answer (RFC 3264) for the robot's one audio stream: pure functions, no sockets, no event loop.

We always offer (INVITE, session refresh) and only answer a peer's re-INVITE with what was already agreed.
Offer: the trunk's G.711 codecs in preference order plus telephone-event (RFC 4733). Answer: the first format
of the answer that we offered is the codec, its telephone-event payload type is used to send digits, the
connection address and port are where RTP goes, RTCP goes to `a=rtcp` or the port above. aiosipua parses and
serializes the text.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from aiosipua import parse_sdp, serialize_sdp
from aiosipua.sdp import ConnectionData, MediaDescription, Origin, SdpMessage

from telephony.sip.g711 import CODECS

DTMF_PT = 101  # our telephone-event payload type; the peer's may differ and is used for what we send


class SdpError(ValueError):
    """The SDP answer gives no usable audio stream; the message says why."""


@dataclass(frozen=True)
class MediaAnswer:
    """What an SDP answer agreed: where to send RTP/RTCP, which codec, which payload types."""

    remote: tuple[str, int]
    codec: str  # a key of telephony.sip.g711.CODECS
    payload_type: int  # the answer's payload type for `codec`
    dtmf_send: int | None  # the answer's telephone-event payload type; None: the peer takes no RFC 4733 digits
    rtcp_remote: tuple[str, int]

    @property
    def dtmf_receive(self) -> set[int]:
        """Telephone-event payload types accepted from the peer: ours and the one it answered."""
        return {DTMF_PT} | ({self.dtmf_send} if self.dtmf_send is not None else set())


def build_offer(rtp_addr: tuple[str, int], codecs: tuple[str, ...], session_id: str, version: int) -> str:
    """Our SDP: `codecs` in preference order (the offer), or just the agreed one (answers, refreshes), with
    telephone-event, at the RTP address `rtp_addr`. `version` must grow whenever the session changes."""
    host, port = rtp_addr
    pts = [CODECS[name].payload_type for name in codecs]
    rtpmap = [f"{pt} {CODECS[name].name}/8000" for pt, name in zip(pts, codecs, strict=True)]
    media = MediaDescription(
        media="audio",
        port=port,
        formats=[str(pt) for pt in pts] + [str(DTMF_PT)],
        attributes={
            "rtpmap": [*rtpmap, f"{DTMF_PT} telephone-event/8000"],
            "fmtp": [f"{DTMF_PT} 0-16"],
            "ptime": ["20"],
            "sendrecv": [],
        },
    )
    addr_type = "IP6" if ":" in host else "IP4"
    sdp = SdpMessage(
        origin=Origin("-", session_id, str(version), "IN", addr_type, host),
        session_name="-",
        connection=ConnectionData("IN", addr_type, host),
        media=[media],
    )
    return serialize_sdp(sdp)


def negotiate_answer(sdp_text: str, offered: tuple[str, ...]) -> MediaAnswer:
    """The media agreed by the SDP answer to our offer of `offered` codecs; SdpError when there is none."""
    sdp = _parse(sdp_text, "SDP answer")
    audio = sdp.audio
    if audio is None:
        raise SdpError("SDP answer has no audio stream")
    if audio.port == 0:
        raise SdpError("SDP answer rejected the audio stream (port 0)")
    address = sdp.rtp_address
    if address is None:
        raise SdpError("SDP answer has no connection address (c=) for audio")
    try:
        pts = [int(fmt) for fmt in audio.formats]
    except ValueError:
        raise SdpError(f"malformed SDP answer: audio formats {audio.formats}") from None
    offered_pts = {CODECS[name].payload_type: name for name in offered}
    codec = payload_type = None
    dtmf_send = None
    for pt in pts:
        entry = next((c for c in audio.codecs if c.payload_type == pt), None)
        name = entry.encoding_name.upper() if entry else {0: "PCMU", 8: "PCMA"}.get(pt, "")
        if codec is None and name in CODECS and CODECS[name].payload_type in offered_pts:
            codec, payload_type = name, pt
        elif name == "TELEPHONE-EVENT" and dtmf_send is None:
            dtmf_send = pt
    if codec is None:
        raise SdpError(f"no common codec in SDP answer (formats {audio.formats})")
    return MediaAnswer(address, codec, payload_type, dtmf_send, _rtcp_address(audio.attributes.get("rtcp"), address))


def moved_media(sdp_text: str) -> tuple[str, int] | None:
    """The peer's RTP address from the SDP of its re-INVITE, or None to keep sending where we do: no audio
    address, port 0, or the old-style hold address 0.0.0.0 (keep the stream; the peer resumes later).
    SdpError when the SDP cannot be read."""
    sdp = _parse(sdp_text, "SDP offer")
    address = sdp.rtp_address
    held = address is not None and _unspecified(address[0])
    if address and sdp.audio and sdp.audio.port and not held:
        return address
    return None


def _parse(sdp_text: str, what: str) -> SdpMessage:
    try:
        return parse_sdp(sdp_text)
    except ValueError as exc:  # a number that is not one (version, port, payload type)
        raise SdpError(f"malformed {what}: {exc}") from None


def _rtcp_address(values: list[str] | None, rtp: tuple[str, int]) -> tuple[str, int]:
    """RTCP goes to `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605) when given, else the RTP port + 1."""
    parts = values[0].split() if values else []
    if parts and parts[0].isdigit():
        return (parts[3] if len(parts) >= 4 else rtp[0], int(parts[0]))
    return (rtp[0], rtp[1] + 1)


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
