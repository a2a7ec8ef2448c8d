"""SIP message parsing and building (RFC 3261 §7, §19, §20, §25)."""

from __future__ import annotations

import pytest

from kefu.channels.voice.sip.message import (
    Address,
    Request,
    Response,
    SipParseError,
    StreamFramer,
    Uri,
    make_response,
    parse_message,
)

from .messages import SDP_OFFER, invite, request


def test_invite_headers_are_typed() -> None:
    msg = parse_message(invite())
    assert isinstance(msg, Request)
    assert msg.method == "INVITE"
    assert msg.uri.user == "+442071234567"
    assert msg.uri.port == 5070
    assert msg.call_id == "a84b4c76e66710@pc33.example.com"
    assert (msg.cseq.number, msg.cseq.method) == (314159, "INVITE")
    assert msg.from_.display == "Alice"
    assert msg.from_.tag == "1928301774"
    assert msg.to.tag is None
    assert msg.top_via.branch == "z9hG4bK776asdhds"
    assert "rport" in msg.top_via.params
    assert msg.contacts[0].uri.params == {"transport": "udp"}
    assert [r.uri.host for r in msg.record_routes] == ["p1.example.com", "p2.example.com"]
    assert msg.body == SDP_OFFER
    assert msg.content_type == "application/sdp"


def test_compact_forms_and_folded_lines_mean_the_same_headers() -> None:
    data = (b"OPTIONS sip:kefu@127.0.0.1 SIP/2.0\r\n"
            b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\n"
            b"v: SIP/2.0/TCP 10.0.0.2;branch=z9hG4bKb,\r\n"
            b"   SIP/2.0/UDP [2001:db8::1]:5080;branch=z9hG4bKc\r\n"
            b"f: sip:alice@example.com;tag=x\r\nt: sip:kefu@127.0.0.1\r\n"
            b"i: c1\r\nCSeq: 7 OPTIONS\r\nk: replaces, timer\r\nl: 0\r\n\r\n")
    msg = parse_message(data)
    assert [v.host for v in msg.vias] == ["10.0.0.1", "10.0.0.2", "[2001:db8::1]"]
    assert msg.vias[2].port == 5080
    assert msg.headers.get_all("Supported") == ["replaces", "timer"]
    # addr-spec form: ;tag belongs to the header, not the URI
    assert msg.from_.tag == "x"
    assert msg.from_.uri.params == {}


def test_content_length_cuts_the_body_of_a_datagram() -> None:
    data = request("MESSAGE").replace(b"Content-Length: 0", b"Content-Length: 5") + b"helloEXTRA"
    assert parse_message(data).body == b"hello"


def test_built_message_round_trips_with_recomputed_content_length() -> None:
    msg = parse_message(invite())
    msg.body = b"x"
    again = parse_message(bytes(msg))
    assert again.body == b"x"
    assert again.headers.get("Content-Length") == "1"
    assert again.cseq == msg.cseq


def test_response_copies_dialog_headers_and_adds_to_tag() -> None:
    req = parse_message(invite())
    assert isinstance(req, Request)
    resp = make_response(req, 180, to_tag="t1")
    parsed = parse_message(bytes(resp))
    assert isinstance(parsed, Response)
    assert (parsed.status, parsed.reason) == (180, "Ringing")
    assert parsed.to.tag == "t1"
    assert parsed.headers.get_all("Via") == req.headers.get_all("Via")
    assert parsed.call_id == req.call_id


@pytest.mark.parametrize(("data", "what", "where"), [
    (invite().replace(b"CSeq: 314159 INVITE", b"CSeq: abc INVITE"),
     "'abc' is not a sequence number", "CSeq header"),
    (invite().replace(b"CSeq: 314159 INVITE", b"CSeq: 1 BYE"),
     "does not match request method", "CSeq header"),
    (invite().replace(b"Call-ID", b"X-Call-ID"), "missing Call-ID header", "headers"),
    (invite().replace(b"SIP/2.0/UDP", b"SIP/3.0/UDP"), "bad Via", "Via header 1"),
    (invite().replace(b"INVITE sip:", b"INVITE http:"), "unsupported URI", "Request-URI"),
    (invite().replace(b"SIP/2.0\r\n", b"SIP/2.1\r\n", 1), "unsupported version", "start line"),
    (invite()[:-10], "Content-Length says", "body"),
    (invite().split(b"\r\n\r\n")[0], "no blank line", "headers"),
    (invite().replace(b"Max-Forwards: 70", b"Max-Forwards 70"), "without ':'", "line 3"),
    (invite().replace(b'"Alice" <sip', b'"Alice <sip'), "quoted display name", "From header"),
    (invite().replace(b"127.0.0.1:5070 SIP", b"127.0.0.1:99999 SIP"), "port 99999",
     "Request-URI"),
    (b"SIP/2.0 700 Odd\r\n\r\n", "status code 700 outside", "start line"),
    (b"SIP/2.0 99 Odd\r\n\r\n", "bad status code", "start line"),
])
def test_malformed_messages_name_what_and_where(data: bytes, what: str, where: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert what in caught.value.what
    assert caught.value.where == where


def test_stream_transport_requires_content_length() -> None:
    data = request("OPTIONS").replace(b"Content-Length: 0\r\n", b"")
    assert parse_message(data).body == b""
    with pytest.raises(SipParseError, match="missing Content-Length"):
        parse_message(data, stream=True)


def test_stream_framer_splits_by_content_length_across_reads() -> None:
    framer = StreamFramer()
    stream = b"\r\n\r\n" + invite() + request("OPTIONS") + invite(branch="z9hG4bK2")
    got: list[bytes] = []
    for i in range(0, len(stream), 37):
        got.extend(framer.feed(stream[i:i + 37]))
    assert [parse_message(m, stream=True).top_via.branch for m in got] == [
        "z9hG4bK776asdhds", "z9hG4bKnon1", "z9hG4bK2"]
    assert parse_message(got[0]).body == SDP_OFFER


def test_stream_framer_refuses_a_stream_without_lengths() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="missing Content-Length"):
        framer.feed(request("OPTIONS").replace(b"Content-Length: 0\r\n", b""))


def test_uris_and_addresses_keep_their_parameters() -> None:
    uri = Uri.parse("sips:bob:secret@[::1]:5061;transport=tls;lr?subject=x")
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips", "bob", "secret", "[::1]", 5061)
    assert uri.params == {"transport": "tls", "lr": None}
    assert str(uri) == "sips:bob:secret@[::1]:5061;transport=tls;lr?subject=x"
    tel = Uri.parse("tel:+44-20-7123;phone-context=example.com")
    assert tel.user == "+44-20-7123"
    addr = Address.parse('"A \\"B\\"" <sip:a@b>;tag=9;expires=60')
    assert addr.display == 'A "B"'
    assert addr.params == {"tag": "9", "expires": "60"}
    assert Address.parse("*").star
