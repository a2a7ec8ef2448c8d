"""SDP parse/build and RFC 3264 offer/answer with PCMU, PCMA and telephone-event."""

from __future__ import annotations

import pytest

from kefu.channels.voice.sdp import (
    LocalMedia,
    NotAcceptable,
    SdpError,
    answer,
    build_offer,
    negotiate,
    parse_sdp,
)

from .messages import SDP_OFFER


def test_answer_takes_the_offerers_first_codec_and_telephone_event() -> None:
    offer = parse_sdp(SDP_OFFER)
    reply, plan = answer(offer, LocalMedia("127.0.0.1", 30000))
    assert (plan.address, plan.port, plan.payload_type, plan.encoding) == (
        "127.0.0.1", 40000, 8, "PCMA")
    assert plan.dtmf_payload_type == 101
    assert not plan.on_hold
    parsed = parse_sdp(bytes(reply))
    (media,) = parsed.media
    assert media.port == 30000
    assert media.formats == ["8", "101"]
    assert media.direction == "sendrecv"
    assert parsed.connection == "127.0.0.1"


def test_dynamic_payload_type_for_pcmu_is_kept() -> None:
    offer = parse_sdp(SDP_OFFER.replace(b"RTP/AVP 8 0 101", b"RTP/AVP 96 101").replace(
        b"a=rtpmap:8 PCMA/8000", b"a=rtpmap:96 PCMU/8000"))
    plan = negotiate(offer)
    assert (plan.payload_type, plan.encoding) == (96, "PCMU")


@pytest.mark.parametrize(("change", "peer", "ours"), [
    ((b"a=sendrecv", b"a=sendonly"), "sendonly", "recvonly"),
    ((b"a=sendrecv", b"a=inactive"), "inactive", "inactive"),
    ((b"c=IN IP4 127.0.0.1", b"c=IN IP4 0.0.0.0"), "sendrecv", "sendrecv"),
])
def test_hold_is_detected_and_mirrored(change: tuple[bytes, bytes], peer: str,
                                       ours: str) -> None:
    offer = parse_sdp(SDP_OFFER.replace(*change))
    reply, plan = answer(offer, LocalMedia("127.0.0.1", 30000))
    assert plan.on_hold
    assert plan.direction == peer
    assert parse_sdp(bytes(reply)).media[0].direction == ours


def test_offer_without_g711_is_not_acceptable() -> None:
    offer = parse_sdp(SDP_OFFER.replace(b"RTP/AVP 8 0 101", b"RTP/AVP 9 101"))
    with pytest.raises(NotAcceptable):
        answer(offer, LocalMedia("127.0.0.1", 30000))


def test_unused_streams_are_rejected_with_port_zero_in_order() -> None:
    data = SDP_OFFER + b"m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    video_first = b"\r\n".join(SDP_OFFER.split(b"\r\n")[:5]) + \
        b"\r\nm=video 40002 RTP/AVP 96\r\n" + b"\r\n".join(SDP_OFFER.split(b"\r\n")[5:])
    for offer_bytes in (data, video_first):
        reply, _ = answer(parse_sdp(offer_bytes), LocalMedia("127.0.0.1", 30000))
        kinds = [(m.kind, m.port) for m in parse_sdp(bytes(reply)).media]
        assert sorted(kinds) == [("audio", 30000), ("video", 0)]
        assert [k for k, _ in kinds] == [m.kind for m in parse_sdp(offer_bytes).media]


def test_our_offer_round_trips_and_bumps_the_version() -> None:
    local = LocalMedia("::1", 31000)
    first = parse_sdp(bytes(build_offer(local)))
    second = parse_sdp(bytes(build_offer(local, direction="sendonly")))
    assert first.origin.split()[2] == "1"
    assert second.origin.split()[2] == "2"
    assert "IP6" in first.origin
    plan = negotiate(second)
    assert (plan.payload_type, plan.dtmf_payload_type, plan.address) == (0, 101, "::1")
    assert plan.on_hold


@pytest.mark.parametrize(("data", "what", "line"), [
    (b"", "empty", None),
    (b"x=0\r\n", "first line must be 'v=0'", 1),
    (b"v=0\r\ns=x\r\n", "missing o=", None),
    (SDP_OFFER.replace(b"o=- 1 1 IN IP4 127.0.0.1", b"o=- 1"), "o= needs 6 fields", 2),
    (SDP_OFFER.replace(b"c=IN IP4", b"c=XX IP4"), "bad connection", 4),
    (SDP_OFFER.replace(b"m=audio 40000", b"m=audio port"), "bad media port", 6),
    (SDP_OFFER.replace(b"a=rtpmap:8 PCMA/8000", b"a=rtpmap:x PCMA"), "bad rtpmap", 7),
    (SDP_OFFER.replace(b"a=ptime:20", b"garbage"), "expected '<type>=<value>'", 11),
])
def test_malformed_sdp_names_the_line(data: bytes, what: str, line: int | None) -> None:
    with pytest.raises(SdpError) as caught:
        parse_sdp(data)
    assert what in caught.value.what
    assert caught.value.line == line
