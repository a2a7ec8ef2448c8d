"""SIP messages as phones send them, for the sans-IO tests."""

from __future__ import annotations

SDP_OFFER = (
    b"v=0\r\n"
    b"o=- 1 1 IN IP4 127.0.0.1\r\n"
    b"s=baresip\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 8 0 101\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)


def invite(branch: str = "z9hG4bK776asdhds", body: bytes = SDP_OFFER, cseq: int = 314159,
           call_id: str = "a84b4c76e66710@pc33.example.com") -> bytes:
    head = (
        "INVITE sip:+442071234567@127.0.0.1:5070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        'From: "Alice" <sip:alice@127.0.0.1:5062>;tag=1928301774\r\n'
        "To: <sip:+442071234567@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} INVITE\r\n"
        "Contact: <sip:alice@127.0.0.1:5062;transport=udp>\r\n"
        "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def request(method: str, branch: str = "z9hG4bKnon1", cseq: int = 1) -> bytes:
    return (
        f"{method} sip:kefu@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5062;branch={branch}\r\n"
        "From: <sip:alice@127.0.0.1>;tag=abc\r\n"
        "To: <sip:kefu@127.0.0.1>\r\n"
        "Call-ID: opt-1@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()
