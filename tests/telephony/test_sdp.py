"""SDP offer/answer (telephony.sip.sdp): what we offer, what we take from an answer, and clear errors when an
answer gives no usable audio. Pure functions: no sockets, no peers."""

from __future__ import annotations

import pytest

from telephony.sip.sdp import DTMF_PT, SdpError, build_offer, moved_media, negotiate_answer


def answer(media: str = "m=audio 5000 RTP/AVP 8 0 101", *attributes: str, connection: str = "c=IN IP4 192.0.2.7"):
    lines = ["v=0", "o=- 7 7 IN IP4 192.0.2.7", "s=-", connection, "t=0 0", media, *attributes]
    return "\r\n".join(line for line in lines if line) + "\r\n"


G711_AND_EVENTS = ("a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000")


# -- our offer -------------------------------------------------------------------------------------------


def test_offer_lists_the_trunk_codecs_in_order_then_telephone_event():
    lines = build_offer(("192.0.2.1", 40000), ("PCMU", "PCMA"), "1234", 1).splitlines()
    assert lines[0] == "v=0"
    assert "o=- 1234 1 IN IP4 192.0.2.1" in lines
    assert "c=IN IP4 192.0.2.1" in lines
    assert "m=audio 40000 RTP/AVP 0 8 101" in lines
    for attribute in ("rtpmap:0 PCMU/8000", "rtpmap:8 PCMA/8000", "rtpmap:101 telephone-event/8000", "fmtp:101 0-16"):
        assert f"a={attribute}" in lines
    assert "a=ptime:20" in lines and "a=sendrecv" in lines
    assert DTMF_PT == 101


def test_offer_of_one_codec_and_a_new_version_for_a_refresh():
    text = build_offer(("192.0.2.1", 40000), ("PCMA",), "1234", 2)
    assert "m=audio 40000 RTP/AVP 8 101" in text.splitlines()
    assert "PCMU" not in text
    assert "o=- 1234 2 IN IP4 192.0.2.1" in text.splitlines()


def test_offer_on_ipv6():
    lines = build_offer(("2001:db8::1", 40002), ("PCMU",), "1", 1).splitlines()
    assert "c=IN IP6 2001:db8::1" in lines and "o=- 1 1 IN IP6 2001:db8::1" in lines


def test_our_offer_read_back_as_an_answer():
    agreed = negotiate_answer(build_offer(("192.0.2.1", 40000), ("PCMU", "PCMA"), "1", 1), ("PCMU", "PCMA"))
    assert (agreed.codec, agreed.payload_type, agreed.dtmf_send) == ("PCMU", 0, 101)
    assert agreed.remote == ("192.0.2.1", 40000)


# -- the answer --------------------------------------------------------------------------------------------


def test_answer_picks_its_first_offered_codec_and_its_telephone_event():
    agreed = negotiate_answer(answer("m=audio 5000 RTP/AVP 8 0 101", *G711_AND_EVENTS), ("PCMU", "PCMA"))
    assert (agreed.codec, agreed.payload_type) == ("PCMA", 8)
    assert agreed.remote == ("192.0.2.7", 5000)
    assert agreed.rtcp_remote == ("192.0.2.7", 5001)  # no a=rtcp: the port above
    assert agreed.dtmf_send == 101 and agreed.dtmf_receive == {101}


def test_answer_skips_codecs_we_did_not_offer():
    agreed = negotiate_answer(answer("m=audio 5000 RTP/AVP 8 0 101", *G711_AND_EVENTS), ("PCMU",))
    assert (agreed.codec, agreed.payload_type) == ("PCMU", 0)


def test_static_payload_types_need_no_rtpmap():
    agreed = negotiate_answer(answer("m=audio 5000 RTP/AVP 0"), ("PCMU", "PCMA"))
    assert (agreed.codec, agreed.payload_type, agreed.dtmf_send) == ("PCMU", 0, None)
    assert agreed.dtmf_receive == {DTMF_PT}  # no RFC 4733 from us, but we still accept ours


def test_peer_telephone_event_payload_type_is_used_to_send_and_accepted():
    agreed = negotiate_answer(
        answer("m=audio 5000 RTP/AVP 0 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15"), ("PCMU",)
    )
    assert agreed.dtmf_send == 96 and agreed.dtmf_receive == {101, 96}


def test_media_level_connection_and_rtcp_attribute():
    text = answer("m=audio 5000 RTP/AVP 0", "c=IN IP4 198.51.100.3", "a=rtcp:5011 IN IP4 198.51.100.4")
    agreed = negotiate_answer(text, ("PCMU",))
    assert agreed.remote == ("198.51.100.3", 5000)
    assert agreed.rtcp_remote == ("198.51.100.4", 5011)
    agreed = negotiate_answer(answer("m=audio 5000 RTP/AVP 0", "a=rtcp:6001"), ("PCMU",))
    assert agreed.rtcp_remote == ("192.0.2.7", 6001)


def test_answer_with_no_common_codec_is_an_error():
    with pytest.raises(SdpError, match=r"no common codec in SDP answer \(formats \['18', '101'\]\)"):
        negotiate_answer(answer("m=audio 5000 RTP/AVP 18 101", "a=rtpmap:18 G729/8000"), ("PCMU", "PCMA"))
    with pytest.raises(SdpError, match="no common codec"):
        negotiate_answer(answer("m=audio 5000 RTP/AVP 8", "a=rtpmap:8 PCMA/8000"), ("PCMU",))


def test_answer_without_connection_line_is_an_error():
    with pytest.raises(SdpError, match=r"no connection address \(c=\)"):
        negotiate_answer(answer("m=audio 5000 RTP/AVP 0", connection=""), ("PCMU",))


@pytest.mark.parametrize(
    "text",
    [
        answer("m=audio notaport RTP/AVP 0"),
        answer("m=audio 5000 RTP/AVP PCMU"),
        answer("m=audio 5000 RTP/AVP 0", "a=rtpmap:zero PCMU/8000"),
        "v=zero\r\nc=IN IP4 192.0.2.7\r\nm=audio 5000 RTP/AVP 0\r\n",
    ],
    ids=["port", "format", "rtpmap", "version"],
)
def test_malformed_answer_is_an_error(text):
    with pytest.raises(SdpError, match="malformed SDP answer"):
        negotiate_answer(text, ("PCMU",))


@pytest.mark.parametrize(
    "text", ["", "not sdp at all", answer("m=video 5002 RTP/AVP 96")], ids=["empty", "garbage", "video-only"]
)
def test_answer_without_audio_is_an_error(text):
    with pytest.raises(SdpError, match="SDP answer has no audio stream"):
        negotiate_answer(text, ("PCMU",))


def test_answer_rejecting_audio_with_port_zero_is_an_error():
    with pytest.raises(SdpError, match=r"rejected the audio stream \(port 0\)"):
        negotiate_answer(answer("m=audio 0 RTP/AVP 0"), ("PCMU",))


def test_answer_on_hold_address_is_taken_as_given():
    """0.0.0.0 in an answer is not refused: media starts toward it and symmetric RTP latches on to wherever
    the peer really sends from."""
    agreed = negotiate_answer(answer("m=audio 5000 RTP/AVP 0", connection="c=IN IP4 0.0.0.0"), ("PCMU",))
    assert agreed.remote == ("0.0.0.0", 5000)  # noqa: S104 - an address in the SDP, nothing is bound


# -- the peer's re-INVITE -------------------------------------------------------------------------------------


def test_reinvite_moving_media_gives_the_new_address():
    assert moved_media(answer("m=audio 6000 RTP/AVP 0", connection="c=IN IP4 198.51.100.9")) == ("198.51.100.9", 6000)


@pytest.mark.parametrize(
    "text",
    [
        answer("m=audio 6000 RTP/AVP 0", connection="c=IN IP4 0.0.0.0"),  # old-style hold (RFC 2543)
        answer("m=audio 6000 RTP/AVP 0", connection="c=IN IP6 ::"),
        answer("m=audio 0 RTP/AVP 0"),  # audio stream removed
        answer("m=audio 6000 RTP/AVP 0", connection=""),  # no address at all
        answer("m=video 6000 RTP/AVP 96"),
    ],
    ids=["hold-0.0.0.0", "hold-ipv6", "port-0", "no-connection", "no-audio"],
)
def test_reinvite_on_hold_or_without_audio_keeps_the_media_where_it_is(text):
    assert moved_media(text) is None


def test_malformed_reinvite_sdp_is_an_error():
    with pytest.raises(SdpError, match="malformed SDP offer"):
        moved_media(answer("m=audio x RTP/AVP 0"))
