"""The SMPP client's pure parts: addresses, settings, backoff, reading receipts."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from kefu.channels.sms.messages import DeliveryStatus
from kefu.channels.sms.smpp.client import (
    SmppSettings,
    format_address,
    parse_address,
    receipt_from_deliver_sm,
)
from kefu.channels.sms.smpp.pdu import Address, DeliverSm, Tag, tlv_cstring, tlv_int

NOW = datetime(2025, 11, 5, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("number", "address"), [
    ("+8613800138000", Address("8613800138000", 1, 1)),
    ("+86 138-0013-8000", Address("8613800138000", 1, 1)),
    ("10690756", Address("10690756", 0, 1)),
    ("Acme Gas", Address("Acme Gas", 5, 0)),
    ("", Address("", 0, 0)),
])
def test_numbers_and_sender_names_get_the_right_type_of_number(number: str, address: Address) -> None:
    assert parse_address(number) == address


def test_international_numbers_get_their_plus_back_on_the_way_in() -> None:
    assert format_address(Address("8613800138000", 1, 1)) == "+8613800138000"
    assert format_address(Address("10690756", 0, 1)) == "10690756"


def test_reconnect_delays_grow_to_the_cap_with_jitter_taken_off() -> None:
    settings = SmppSettings("127.0.0.1", 2775, "kefu", "pw", reconnect_initial_delay=1,
                            reconnect_max_delay=30, reconnect_jitter=0.25)
    rng = random.Random(7)
    delays = [settings.reconnect_delay(failures, rng) for failures in range(8)]
    caps = [1, 2, 4, 8, 16, 30, 30, 30]
    for delay, cap in zip(delays, caps, strict=True):
        assert cap * 0.75 <= delay <= cap
    assert settings.reconnect_delay(10_000, rng) <= 30  # no overflow after a long outage


def test_settings_that_smpp_cannot_carry_are_refused_together() -> None:
    with pytest.raises(ValueError, match=(
            r"invalid SMPP settings: password must be at most 8 characters \(SMPP 3.4\); "
            r"window must be at least 1; response_timeout must be positive")):
        SmppSettings("127.0.0.1", 2775, "kefu", "far-too-long", window=0, response_timeout=0)


def receipt_pdu(text: bytes, **tlvs: bytes) -> DeliverSm:
    return DeliverSm(Address("8613800138000", 1, 1), Address("10690756"), text, esm_class=0x04,
                     tlvs={Tag[name.upper()]: value for name, value in tlvs.items()})


def test_a_receipt_is_read_from_its_text() -> None:
    receipt = receipt_from_deliver_sm(receipt_pdu(
        b"id:9F3 sub:001 dlvrd:000 submit date:2511050958 done date:2511051000 stat:UNDELIV "
        b"err:034 text:hello"), NOW)
    assert (receipt.message_id, receipt.status, receipt.state) == ("9F3", DeliveryStatus.FAILED, "UNDELIV")
    assert receipt.error == "034"
    assert receipt.done_at == datetime(2025, 11, 5, 10, 0, tzinfo=UTC)
    assert (receipt.recipient, receipt.sender) == ("+8613800138000", "10690756")


def test_receipt_tlvs_win_over_the_text_and_suffice_alone() -> None:
    # Some SMSCs print decimal ids in the text while submit_sm_resp gave hex: the TLV is exact.
    receipt = receipt_from_deliver_sm(receipt_pdu(
        b"id:2547 stat:DELIVRD", receipted_message_id=tlv_cstring("9F3"),
        message_state=tlv_int(2, 1)), NOW)
    assert (receipt.message_id, receipt.status) == ("9F3", DeliveryStatus.DELIVERED)
    only_tlvs = receipt_from_deliver_sm(receipt_pdu(
        b"", receipted_message_id=tlv_cstring("9F4"), message_state=tlv_int(8, 1)), NOW)
    assert (only_tlvs.message_id, only_tlvs.status, only_tlvs.state) == (
        "9F4", DeliveryStatus.FAILED, "REJECTED")


def test_a_receipt_that_names_no_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="delivery receipt has no 'id:' or 'stat:' field"):
        receipt_from_deliver_sm(receipt_pdu(b"your message was delivered"), NOW)
