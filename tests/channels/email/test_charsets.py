"""Header and body charsets as real mail uses them."""

from __future__ import annotations

import base64

import pytest

from kefu.channels.email.charsets import codecs_for, decode_bytes, decode_header_value


def b_word(text: str, label: str, codec: str | None = None) -> str:
    data = text.encode(codec or label)
    return f"=?{label}?B?{base64.b64encode(data).decode()}?="


@pytest.mark.parametrize(("label", "codec", "text"), [
    ("gb2312", "gbk", "朱镕基"),          # GBK-only character under a GB2312 label
    ("GBK", "gbk", "燃气费"),
    ("gb18030", "gb18030", "𠀀字"),       # four-byte GB18030 sequence
    ("big5", "cp950", "帳單€"),           # cp950 euro sign under a Big5 label
    ("big5", "big5hkscs", "香港𥚃"),       # HKSCS character under a Big5 label
    ("utf-8", "utf-8", "Zählerstand ✓"),
    ("ks_c_5601-1987", "cp949", "고객센터"),
])
def test_encoded_words_decode_with_the_superset_of_their_label(label: str, codec: str,
                                                               text: str) -> None:
    assert decode_header_value(b_word(text, label, codec)) == text


def test_q_encoding_with_underscores_and_adjacent_words_join_without_space() -> None:
    value = "=?utf-8?Q?Ihre_Rechnung_=E2=80=93?= =?utf-8?Q?_Z=C3=A4hlerstand?="
    assert decode_header_value(value) == "Ihre Rechnung – Zählerstand"


def test_multibyte_character_split_across_two_encoded_words() -> None:
    data = "燃气费".encode("gbk")
    first, second = base64.b64encode(data[:3]).decode(), base64.b64encode(data[3:]).decode()
    assert decode_header_value(f"=?gbk?B?{first}?= =?gbk?B?{second}?=") == "燃气费"


def test_plain_text_around_encoded_words_keeps_its_spaces() -> None:
    value = f"Re: {b_word('账单', 'gbk')} (No. 42)"
    assert decode_header_value(value) == "Re: 账单 (No. 42)"


def test_folded_header_is_unfolded() -> None:
    assert decode_header_value("a long\r\n subject") == "a long subject"


def test_raw_8bit_header_bytes_use_utf8_then_the_body_charset() -> None:
    utf8 = "关于账单".encode().decode("ascii", errors="surrogateescape")
    gbk = "关于账单".encode("gbk").decode("ascii", errors="surrogateescape")
    assert decode_header_value(utf8) == "关于账单"
    assert decode_header_value(gbk, fallback_charset="gb2312") == "关于账单"


def test_broken_words_are_kept_as_written_not_raised() -> None:
    assert decode_header_value("=?utf-8?B?@@@?=") == "=?utf-8?B?@@@?="
    assert decode_header_value("=?no-such-charset?Q?caf=C3=A9?=") == "café"


def test_decoded_line_breaks_cannot_start_a_new_header() -> None:
    value = "=?utf-8?Q?hello=0D=0ABcc:_victim@example.cn?="
    assert "\n" not in decode_header_value(value)


def test_body_bytes_never_raise() -> None:
    assert decode_bytes(b"caf\xc3\xa9", "us-ascii") == "café"   # UTF-8 labelled ASCII
    assert decode_bytes(b"caf\xe9", "iso-8859-1") == "café"
    assert decode_bytes("燃气".encode("gbk"), None) == "燃气"      # unlabelled: guessed
    assert "\ufffd" in decode_bytes(b"\xff\xfe\xfa", "utf-8")


def test_codecs_for_unknown_label_falls_back_to_guessing() -> None:
    assert codecs_for("x-made-up")[0] == "utf-8"
    assert codecs_for("GB2312") == ("gb18030",)
