"""Random, truncated and mutated SIP messages and SDP never crash the parsers: each input is
parsed or rejected with a reason (SipParseError / SdpError naming what and where)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.channels.voice.sdp import NotAcceptable, SdpError, negotiate, parse_sdp
from kefu.channels.voice.sip.message import (
    Request,
    SipParseError,
    StreamFramer,
    parse_message,
)

from .messages import SDP_OFFER, invite, request

SEEDS = [invite(), request("OPTIONS"), request("REGISTER"), request("BYE"),
         b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\n"
         b"To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"]
# Bytes that matter to the grammar, so mutations hit the interesting places.
TOKENS = [b"\r\n", b":", b";", b",", b"<", b">", b'"', b"\\", b"@", b"=", b" ", b"\t", b"\x00",
          b"\xff", b"SIP/2.0", b"sip:", b"z9hG4bK", b"Content-Length: 99999", b"l: -1",
          b"CSeq: 4294967296 INVITE", b"[", b"]", b"?", b"%", b"\n\n"]


def check_sip(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        assert exc.what  # noqa: PT017 - parsed or rejected, either is an outcome here
        assert exc.where  # noqa: PT017
        return
    # What is accepted is usable: typed headers parse and the message re-serializes.
    assert msg.top_via.transport
    msg.cseq, msg.from_, msg.to, msg.contacts, msg.routes  # noqa: B018
    again = parse_message(bytes(msg))
    assert again.body == msg.body
    if isinstance(msg, Request):
        assert isinstance(again, Request)
        assert again.method == msg.method


def check_sdp(data: bytes) -> None:
    try:
        description = parse_sdp(data)
    except SdpError as exc:
        assert exc.what  # noqa: PT017 - parsed or rejected, either is an outcome here
        return
    try:
        negotiate(description)
    except NotAcceptable:
        return
    parse_sdp(bytes(description))


mutation = st.tuples(st.integers(0, 10_000), st.integers(0, 40),
                     st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)))


def mutate(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = seed
    for where, cut, insert in edits:
        pos = where % (len(data) + 1)
        data = data[:pos] + insert + data[pos + cut:]
    return data


FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    check_sip(data)
    check_sdp(data)


@FUZZ
@given(st.sampled_from(SEEDS), st.integers(0, 2000))
def test_truncated_messages(seed: bytes, cut: int) -> None:
    check_sip(seed[:cut])
    check_sdp(SDP_OFFER[:cut])


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(mutation, min_size=1, max_size=6))
def test_mutated_messages(seed: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    check_sip(mutate(seed, edits))


@FUZZ
@given(st.lists(mutation, min_size=1, max_size=6))
def test_mutated_sdp(edits: list[tuple[int, int, bytes]]) -> None:
    check_sdp(mutate(SDP_OFFER, edits))


@FUZZ
@given(st.lists(st.sampled_from([*SEEDS, b"\r\n", b"garbage\r\n\r\n"]), max_size=5),
       st.integers(1, 97))
def test_stream_framer_never_crashes(parts: list[bytes], chunk: int) -> None:
    framer = StreamFramer()
    stream = b"".join(parts)
    try:
        for i in range(0, len(stream), chunk):
            for message in framer.feed(stream[i:i + chunk]):
                check_sip(message)
    except SipParseError as exc:
        assert exc.what  # noqa: PT017 - parsed or rejected, either is an outcome here
