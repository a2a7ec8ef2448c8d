"""The SMPP codec: round trips, exact bytes for known PDUs, malformed frames, receipts."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kefu.channels.sms.smpp.pdu import (
    HEADER,
    Address,
    BindTransceiver,
    BindTransceiverResp,
    CommandId,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Pdu,
    PduDecodeError,
    PduEncodeError,
    PduError,
    PduStream,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
    decode,
    describe_status,
    encode,
    parse_receipt_text,
    tlv_cstring,
    tlv_int,
)

SAMPLES = [
    Pdu(BindTransceiver("kefu", "secret", "KEFU"), 1),
    Pdu(BindTransceiverResp("smsc", {Tag.SC_INTERFACE_VERSION: b"\x34"}), 1),
    Pdu(SubmitSm(Address("10690756"), Address("8613800138000", 1, 1), "你好".encode("utf-16-be"),
                 data_coding=8, registered_delivery=1), 2),
    Pdu(DeliverSm(Address("8613800138000", 1, 1), Address("10690756"), b"id:1 stat:DELIVRD",
                  esm_class=0x04, tlvs={Tag.RECEIPTED_MESSAGE_ID: tlv_cstring("1"),
                                        Tag.MESSAGE_STATE: tlv_int(2, 1)}), 0x7FFFFFFF),
    Pdu(SubmitSmResp("3e8"), 2),
    Pdu(DeliverSmResp(), 3),
    Pdu(EnquireLink(), 4), Pdu(EnquireLinkResp(), 4),
    Pdu(Unbind(), 5), Pdu(UnbindResp(), 5),
    Pdu(GenericNack(), 6, CommandStatus.ESME_RINVCMDID),
]


@pytest.mark.parametrize("pdu", SAMPLES, ids=lambda pdu: pdu.command_id.name.lower())
def test_every_pdu_survives_a_round_trip(pdu: Pdu) -> None:
    assert decode(encode(pdu)) == pdu


def test_enquire_link_is_the_bare_header_from_the_specification() -> None:
    assert encode(Pdu(EnquireLink(), 1)).hex() == "00000010" "00000015" "00000000" "00000001"


def test_bind_transceiver_bytes_match_the_specification_layout() -> None:
    data = encode(Pdu(BindTransceiver("kefu", "pw", "T"), 7))
    length, command, status, sequence = HEADER.unpack_from(data)
    assert (length, command, status, sequence) == (len(data), 0x09, 0, 7)
    assert data[16:] == b"kefu\x00pw\x00T\x00\x34\x00\x00\x00"


def test_long_payload_travels_in_message_payload() -> None:
    payload = ("很长的消息" * 60).encode("utf-16-be")
    sm = SubmitSm(Address("1"), Address("2"), data_coding=8, tlvs={Tag.MESSAGE_PAYLOAD: payload})
    decoded = decode(encode(Pdu(sm, 9))).body
    assert isinstance(decoded, SubmitSm)
    assert decoded.message == payload
    assert decoded.short_message == b""


def test_error_responses_may_come_without_a_body() -> None:
    frame = HEADER.pack(16, CommandId.SUBMIT_SM_RESP, CommandStatus.ESME_RTHROTTLED, 4)
    pdu = decode(frame)
    assert pdu.body == SubmitSmResp("")
    assert pdu.status == CommandStatus.ESME_RTHROTTLED
    assert not pdu.ok


@pytest.mark.parametrize(("pdu", "message"), [
    (Pdu(BindTransceiver("kefu", "toolongpassword"), 1), "password 'toolongpassword' is longer"),
    (Pdu(SubmitSm(Address("客服"), Address("1")), 1), "source_addr must be ASCII"),
    (Pdu(SubmitSm(Address("1"), Address("2"), b"x" * 255), 1), "short_message is 255 octets"),
    (Pdu(EnquireLink(), 0), "sequence number 0"),
])
def test_fields_smpp_cannot_carry_are_refused_by_name(pdu: Pdu, message: str) -> None:
    with pytest.raises(PduEncodeError, match=message):
        encode(pdu)


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_stream_framing_does_not_depend_on_how_bytes_are_chunked(noise: bytes, chunk: int) -> None:
    data = b"".join(encode(pdu) for pdu in SAMPLES)
    stream = PduStream()
    out = []
    for start in range(0, len(data), chunk):
        out += stream.feed(data[start:start + chunk])
    assert out == SAMPLES
    # Arbitrary bytes never raise: each frame is a PDU or a reported error.
    junk = PduStream()
    for item in junk.feed(noise):
        assert isinstance(item, Pdu | PduError)


def test_an_unknown_command_is_reported_and_nacked_and_the_stream_goes_on() -> None:
    stream = PduStream()
    unknown = HEADER.pack(16, 0x00000099, 0, 7)
    error, after = stream.feed(unknown + encode(Pdu(EnquireLink(), 8)))
    assert isinstance(error, PduError)
    assert error.reason == "command 0x00000099 is not supported by kefu's SMPP client"
    assert error.response() == Pdu(GenericNack(), 7, CommandStatus.ESME_RINVCMDID)
    assert after == Pdu(EnquireLink(), 8)
    assert not stream.broken


def test_a_truncated_deliver_sm_body_is_answered_with_its_own_error_response() -> None:
    [error] = PduStream().feed(HEADER.pack(20, CommandId.DELIVER_SM, 0, 5) + b"\x00\x01\x01\x31")
    assert isinstance(error, PduError)
    assert error.reason == "deliver_sm: source_addr at octet 3 of the body has no terminating NUL"
    assert error.response() == Pdu(DeliverSmResp(), 5, CommandStatus.ESME_RINVMSGLEN)


def test_a_short_message_longer_than_its_frame_is_named() -> None:
    sm = bytearray(encode(Pdu(DeliverSm(Address("1"), Address("2"), b"hello"), 3)))
    sm[16 + 18] = 200  # sm_length follows 18 octets of fields for these one-digit addresses
    [error] = PduStream().feed(bytes(sm))
    assert isinstance(error, PduError)
    assert "short_message claims 200 octets but only 5 remain" in error.reason


def test_a_broken_optional_parameter_is_named() -> None:
    frame = encode(Pdu(DeliverSm(Address("1"), Address("2"), b"hi"), 3)) + struct.pack(">HH", 0x0424, 9)
    frame = struct.pack(">I", len(frame)) + frame[4:]
    [error] = PduStream().feed(frame)
    assert isinstance(error, PduError)
    assert "optional parameter 0x0424 claims 9 octets but only 0 remain" in error.reason
    assert error.status == CommandStatus.ESME_RINVOPTPARSTREAM


@pytest.mark.parametrize("length", [0, 15, 70_000])
def test_an_impossible_command_length_is_fatal_and_nacked(length: int) -> None:
    stream = PduStream(max_length=65_536)
    [error] = stream.feed(HEADER.pack(length, CommandId.DELIVER_SM, 0, 9))
    assert isinstance(error, PduError)
    assert error.fatal
    assert stream.broken
    assert f"command_length {length} of deliver_sm (sequence 9)" in error.reason
    assert error.response() == Pdu(GenericNack(), 9, CommandStatus.ESME_RINVCMDLEN)
    assert stream.feed(encode(Pdu(EnquireLink(), 1))) == []  # nothing after it is trusted


def test_a_broken_response_is_reported_but_never_answered() -> None:
    [error] = PduStream().feed(HEADER.pack(17, CommandId.SUBMIT_SM_RESP, 0, 4) + b"x")
    assert isinstance(error, PduError)
    assert error.is_response
    assert error.response() is None


def test_decode_checks_the_frame_length() -> None:
    with pytest.raises(PduDecodeError, match="command_length 99 does not match the 16-octet frame"):
        decode(HEADER.pack(99, CommandId.ENQUIRE_LINK, 0, 1))


def test_statuses_are_described_by_name() -> None:
    assert describe_status(0x0E) == "ESME_RINVPASWD (0x0000000E)"
    assert describe_status(0x400) == "status 0x00000400"


# --- delivery receipts --------------------------------------------------------------------


def test_the_receipt_format_of_the_specification_is_read() -> None:
    receipt = parse_receipt_text(
        "id:0123456789 sub:001 dlvrd:001 submit date:2511051000 done date:2511051002 "
        "stat:DELIVRD err:000 text:您的燃气报修已受理")
    assert receipt.message_id == "0123456789"
    assert (receipt.submitted, receipt.delivered, receipt.stat, receipt.err) == (1, 1, "DELIVRD", "000")
    assert receipt.text == "您的燃气报修已受理"
    assert receipt.done_at() == datetime(2025, 11, 5, 10, 2, tzinfo=UTC)
    assert receipt.submitted_at() == datetime(2025, 11, 5, 10, 0, tzinfo=UTC)


def test_receipts_in_other_case_order_and_with_seconds_are_read() -> None:
    receipt = parse_receipt_text("Stat:undeliv ID:ab-12 Err:034 Done Date:251105100259 Text:")
    assert (receipt.message_id, receipt.stat, receipt.err) == ("ab-12", "UNDELIV", "034")
    assert receipt.done_at() == datetime(2025, 11, 5, 10, 2, 59, tzinfo=UTC)
    assert receipt.submitted_at() is None


def test_a_receipt_without_stat_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="delivery receipt has no 'stat:' field"):
        parse_receipt_text("id:42 sub:001 dlvrd:001")
