"""GSM 03.38 and UCS-2, splitting long messages with UDH, and reassembling inbound parts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kefu.channels.sms.encoding import (
    GSM_DEFAULT_ALPHABET,
    GSM_EXTENSION_TABLE,
    AssembledText,
    Concatenation,
    DataCoding,
    PartsKey,
    Reassembler,
    SmsEncodingError,
    choose_coding,
    decode_gsm,
    decode_text,
    encode_gsm,
    join_segments,
    split_text,
    split_udh,
)

CHINESE = "您好,您的燃气报修单已受理,维修师傅将于今天下午上门,请保持电话畅通。如需改约请回复1。"


def test_the_gsm_alphabet_has_128_characters_and_round_trips() -> None:
    assert len(GSM_DEFAULT_ALPHABET) == 128
    text = GSM_DEFAULT_ALPHABET.replace("\x1b", "") + "".join(GSM_EXTENSION_TABLE.values())
    assert decode_gsm(encode_gsm(text)) == text


def test_extension_characters_cost_two_septets() -> None:
    assert encode_gsm("€[x]") == bytes((0x1B, 0x65, 0x1B, 0x3C, 0x78, 0x1B, 0x3E))


def test_plain_english_and_accents_stay_gsm_but_chinese_and_emoji_need_ucs2() -> None:
    assert choose_coding("Hello Jürgen, €5 {ok}") is DataCoding.GSM
    assert choose_coding("您好") is DataCoding.UCS2
    assert choose_coding("Thanks 👍") is DataCoding.UCS2
    assert choose_coding("ç is not Ç") is DataCoding.UCS2  # only capital Ç is in GSM
    assert choose_coding("Zoë") is DataCoding.UCS2  # nor is ë


def test_a_non_gsm_character_is_named_with_its_position() -> None:
    with pytest.raises(SmsEncodingError, match=r"character '好' \(U\+597D\) at position 1"):
        encode_gsm("a好")


def test_messages_that_fit_go_as_one_part_without_header() -> None:
    gsm = split_text("x" * 160, reference=1)
    ucs2 = split_text("中" * 70, reference=1)
    assert [len(s.payload) for s in gsm.segments] == [160]
    assert gsm.segments[0].udh == b""
    assert [len(s.payload) for s in ucs2.segments] == [140]
    assert ucs2.segments[0].udh == b""


def test_a_long_chinese_message_splits_into_67_character_parts_with_udh() -> None:
    text = CHINESE * 4  # 176 characters
    message = split_text(text, reference=0x2A)
    assert message.data_coding is DataCoding.UCS2
    assert [len(segment.text) for segment in message.segments] == [67, 67, 42]
    assert [segment.udh.hex() for segment in message.segments] == [
        "0500032a0301", "0500032a0302", "0500032a0303"]
    assert b"".join(s.payload for s in message.segments).decode("utf-16-be") == text
    assert all(len(segment.short_message) <= 140 for segment in message.segments)


def test_a_long_gsm_message_splits_at_153_septets() -> None:
    message = split_text("a" * 400, reference=3)
    assert message.data_coding is DataCoding.GSM
    assert [len(segment.payload) for segment in message.segments] == [153, 153, 94]


def test_an_escape_sequence_is_never_cut_between_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the euro would straddle septets 153 and 154
    message = split_text(text, reference=3)
    first, second = message.segments
    assert first.text == "a" * 152
    assert len(first.payload) == 152
    assert second.text.startswith("€")
    assert decode_gsm(first.payload) + decode_gsm(second.payload) == text


def test_an_emoji_surrogate_pair_is_never_cut_between_parts() -> None:
    text = "中" * 66 + "😀" + "文" * 10  # the pair would straddle units 67 and 68
    first, second = split_text(text, reference=3).segments
    assert first.text == "中" * 66
    assert second.text.startswith("😀")
    first.payload.decode("utf-16-be")  # each part decodes on its own: no broken pair
    second.payload.decode("utf-16-be")


def test_too_many_parts_are_refused_before_anything_is_sent() -> None:
    with pytest.raises(SmsEncodingError, match="message needs 4 parts of 67 UCS-2 units; at most 3"):
        split_text("中" * 202, reference=1, max_parts=3)


@given(st.text(alphabet=st.sampled_from(list("abc €{}中文😀\n")), max_size=600),
       st.integers(min_value=0, max_value=255))
def test_splitting_then_joining_gives_back_the_text(text: str, reference: int) -> None:
    message = split_text(text, reference=reference)
    assert join_segments(message.segments) == text
    payload = b"".join(segment.payload for segment in message.segments)
    assert decode_text(payload, message.data_coding) == text
    for segment in message.segments:
        assert len(segment.short_message) <= (160 if message.data_coding is DataCoding.GSM else 140)


def test_udh_is_read_back_with_its_concatenation_info() -> None:
    info, payload = split_udh(bytes.fromhex("050003c80302") + b"hi")
    assert info == Concatenation(reference=0xC8, total=3, sequence=2)
    assert payload == b"hi"
    info16, _ = split_udh(bytes.fromhex("0608041234030100"))
    assert info16 == Concatenation(reference=0x1234, total=3, sequence=1)


@pytest.mark.parametrize(("data", "message"), [
    ("", "UDH indicator set but the short message is empty"),
    ("0a0003", "UDH length 10 exceeds the 2 octets that follow it"),
    ("050003010304", "concatenated part 4 of 3 is out of range"),
    ("0300050102", "UDH information element 0x00 claims 5 octets, has 1"),
])
def test_broken_udh_is_named(data: str, message: str) -> None:
    with pytest.raises(SmsEncodingError, match=message):
        split_udh(bytes.fromhex(data))


def test_inbound_codings_are_read_and_binary_is_refused() -> None:
    assert decode_text("Grüße".encode("latin-1"), 0x03) == "Grüße"
    assert decode_text("燃气".encode("gbk"), 0x0F) == "燃气"
    assert decode_text(b"\x00\x41\xd8", 0x08) == "A\ufffd"  # a broken tail is kept visible
    with pytest.raises(SmsEncodingError, match="data_coding 0x04 is binary data"):
        decode_text(b"\x01", 0x04)


# --- reassembly ---------------------------------------------------------------------------


def parts_of(text: str, reference: int = 9) -> list[tuple[Concatenation, bytes]]:
    message = split_text(text, reference=reference)
    return [(split_udh(segment.short_message)[0] or Concatenation(0, 1, 1), segment.payload)
            for segment in message.segments]


def add(reassembler: Reassembler, part: tuple[Concatenation, bytes], now: float,
        sender: str = "+8613800138000", coding: int = 8) -> tuple[PartsKey, AssembledText] | None:
    return reassembler.add(sender=sender, recipient="10690756", concatenation=part[0],
                           payload=part[1], data_coding=coding, now=now)


def test_parts_arriving_out_of_order_make_the_whole_message() -> None:
    text = CHINESE * 4
    first, second, third = parts_of(text)
    reassembler = Reassembler()
    assert add(reassembler, third, now=0) is None
    assert add(reassembler, first, now=1) is None
    done = add(reassembler, second, now=2)
    assert done is not None
    key, assembled = done
    assert (assembled.text, assembled.total, assembled.complete) == (text, 3, True)
    reassembler.release(key, now=2)
    assert len(reassembler) == 0


def test_a_completed_message_is_held_until_released_so_a_resent_last_part_completes_it_again() -> None:
    first, second = parts_of(CHINESE * 2)
    reassembler = Reassembler()
    add(reassembler, first, now=0)
    assert add(reassembler, second, now=1) is not None  # the host failed to store it...
    done = add(reassembler, second, now=5)  # ...and the SMSC sends the last part again
    assert done is not None
    key, _ = done
    reassembler.release(key, now=5)
    assert add(reassembler, second, now=6) is None  # a late duplicate is recognised
    assert len(reassembler) == 0


def test_same_reference_from_different_senders_does_not_mix() -> None:
    ours, theirs = parts_of(CHINESE * 2, reference=5), parts_of("x" * 200, reference=5)
    reassembler = Reassembler()
    add(reassembler, ours[0], now=0, sender="+861")
    add(reassembler, theirs[0], now=0, sender="+862", coding=0)
    done = add(reassembler, ours[1], now=1, sender="+861")
    assert done is not None
    assert done[1].text == CHINESE * 2
    reassembler.release(done[0], now=1)
    assert len(reassembler) == 1  # the other sender's message is still waiting


def test_missing_parts_are_given_up_after_the_timeout_keeping_what_arrived() -> None:
    first, _second, third = parts_of(CHINESE * 4)
    reassembler = Reassembler(timeout=300)
    add(reassembler, first, now=100)
    add(reassembler, third, now=150)
    assert reassembler.expire(now=399) == []
    [partial] = reassembler.expire(now=400)
    assert partial.missing == (2,)
    assert not partial.complete
    assert partial.text.startswith(CHINESE[:10])
    assert len(reassembler) == 0


def test_a_flood_of_incomplete_messages_is_bounded() -> None:
    reassembler = Reassembler(max_pending=2)
    for reference in (1, 2):
        add(reassembler, parts_of("中" * 100, reference=reference)[0], now=0)
    with pytest.raises(SmsEncodingError, match="2 incomplete concatenated messages are waiting"):
        add(reassembler, parts_of("中" * 100, reference=3)[0], now=0)


def test_binary_parts_are_refused_on_arrival() -> None:
    with pytest.raises(SmsEncodingError, match="data_coding 0x04"):
        add(Reassembler(), parts_of("中" * 100)[0], now=0, coding=4)
