"""Parsing real-world-shaped mail: what an agent sees must be what the customer wrote."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kefu.channels.email.classify import MailKind
from kefu.channels.email.mime import MalformedEmail, parse_email, unflow
from tests.channels.email.peers import fixture

OWN = ("mail.kefu.test",)


def test_foxmail_gb2312_label_with_gbk_only_characters_decodes_fully() -> None:
    # 镕 is in GBK, not GB2312; Foxmail labels it gb2312 anyway.
    message = parse_email(fixture("gbk_subject_foxmail.eml"))
    assert message.subject == "燃气账单咨询（朱镕）"
    assert message.from_address.name == "朱镕"
    assert message.from_address.address == "zhu.rong@example.cn"
    assert message.to[0].name == "燃气客服"
    assert message.text.startswith("王经理您好：")
    assert "户号 3301-2287" in message.text
    assert message.text.endswith("朱镕")
    assert "\ufffd" not in message.text
    assert message.html is not None
    assert "<p>谢谢！<br>朱镕</p>" in message.html
    assert message.message_id == "202406030915012345678@example.cn"
    assert message.date == datetime(2024, 6, 3, 9, 15, 2, tzinfo=timezone(timedelta(hours=8)))
    assert message.classification.kind is MailKind.PERSONAL
    assert message.defects == ()


def test_outlook_big5_quoted_printable_body_with_cp950_euro_sign() -> None:
    message = parse_email(fixture("big5_body_outlook.eml"))
    assert message.subject == "帳單疑問"
    assert message.from_address.name == "陳美玲"
    assert message.text == "您好：\n\n請問我的帳單金額為何比上月多出 €12？\n\n陳小姐 敬上"
    assert message.message_id == "000001dab65e$8b2c1a40$a1844ec0$@example.tw"


def test_thunderbird_utf8_quoted_printable_flowed_reply() -> None:
    message = parse_email(fixture("utf8_qp_thunderbird.eml"))
    assert message.subject == "Re: Ihre Rechnung – Zählerstand"
    assert message.from_address.name == "Jürgen Weiß"
    # format=flowed soft breaks are joined; the signature separator "-- " survives.
    assert ("lists a meter reading of 4 821 m³, but the meter shows 4 182 m³."
            in message.text)
    assert message.text.endswith("-- \nJürgen Weiß")
    assert message.in_reply_to == ("kefu.0f1e2d3c4b5a69788796a5b4c3d2e1f0@mail.kefu.test",)
    assert message.references == ("first@example.de",
                                  "kefu.0f1e2d3c4b5a69788796a5b4c3d2e1f0@mail.kefu.test")
    # Replying to kefu's message is normal personal mail, not a loop.
    assert parse_email(fixture("utf8_qp_thunderbird.eml"),
                       own_domains=OWN).classification.kind is MailKind.PERSONAL


def test_attachments_keep_bytes_and_decoded_names_without_paths() -> None:
    message = parse_email(fixture("attachment_mixed.eml"))
    assert message.subject == "账单与抄表记录"
    assert message.text == "附件是账单和抄表记录。"
    pdf, xls, passwd = message.attachments
    # RFC 2231 filename* wins over the RFC 2047 name= of the Content-Type.
    assert pdf.filename == "2024年5月账单.pdf"
    assert pdf.content_type == "application/pdf"
    assert pdf.data.startswith(b"%PDF-1.4")
    assert pdf.data.endswith(bytes(range(256)))
    assert not pdf.inline
    # An encoded word inside quotes: forbidden by RFC 2047, written by real mailers.
    assert xls.filename == "抄表记录.xls"
    assert xls.data == b"PK\x03\x04" + bytes(200)
    # A text part with a file name is an attachment, and the name is never a path.
    assert passwd.filename == "passwd"
    assert passwd.data == b"root:x:0:0"  # the CRLF before a boundary belongs to it (RFC 2046)


def test_inline_image_is_kept_with_its_content_id_and_plain_text_is_preferred() -> None:
    message = parse_email(fixture("inline_image.eml"))
    assert message.text == "See the meter photo."
    assert message.html is not None
    assert 'src="cid:meter.png@example.cn"' in message.html
    (image,) = message.inline_images
    assert image.content_id == "meter.png@example.cn"
    assert image.filename == "meter.png"
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_html_only_mail_becomes_safe_text() -> None:
    message = parse_email(fixture("html_only_script.eml"))
    assert message.text == (
        "My account\n\n"
        "Fish & chips cost £5 — is that right?\n\n"
        "See my bill (https://example.cn/bill/42) and this.\n\n"
        "- first\n- second"
    )
    assert "document.cookie" not in message.text
    assert "ignored title" not in message.text
    assert message.html is not None
    assert "<script>" in message.html


def test_tolerated_defects_are_read_like_a_mail_reader_and_listed() -> None:
    message = parse_email(fixture("defects_tolerated.eml"))
    # Raw UTF-8 header bytes with no RFC 2047 encoding.
    assert message.subject == "关于账单的问题"
    assert message.from_address.name == "张伟"
    # Unpadded base64, a part in an unknown charset, no closing boundary.
    assert message.text == "你好，账单有问题\n\nsecond part, unknown charset"
    assert message.message_id is None
    assert message.date is None
    assert "no Message-ID" in message.defects
    assert "unreadable Date: 'sometime last Tuesday'" in message.defects
    assert "close boundary not found" in message.defects


def test_lf_only_line_ends_parse_like_crlf() -> None:
    raw = fixture("gbk_subject_foxmail.eml").replace(b"\r\n", b"\n")
    assert parse_email(raw).subject == "燃气账单咨询（朱镕）"


@pytest.mark.parametrize(("name", "problem"), [
    ("malformed_no_boundary.eml",
     "the multipart/mixed part has no boundary parameter, so its parts cannot be told apart "
     "(RFC 2046 section 5.1.1)"),
    ("malformed_boundary_missing.eml",
     "the multipart/mixed part declares boundary 'declared-but-absent' but no part starts "
     "with it (RFC 2046 section 5.1.1)"),
    ("malformed_no_headers.eml",
     "the message has no header section: it must start with header fields such as 'From:' "
     "(RFC 5322 section 2.1)"),
    ("malformed_no_from.eml",
     "the message has no From: header field (RFC 5322 section 3.6.2 requires one)"),
])
def test_unreadable_mail_is_refused_with_the_problem_named(name: str, problem: str) -> None:
    with pytest.raises(MalformedEmail) as caught:
        parse_email(fixture(name))
    assert str(caught.value) == problem


def test_empty_input_and_addressless_from_are_refused() -> None:
    with pytest.raises(MalformedEmail, match="the message is empty"):
        parse_email(b"\r\n  \r\n")
    with pytest.raises(MalformedEmail, match="the From: header field holds no address"):
        parse_email(b"From: \r\nSubject: x\r\n\r\nbody\r\n")


def test_deep_nesting_is_refused_not_crashed() -> None:
    depth = 60
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'
                   for i in range(depth))
    raw = ("From: a@example.cn\r\n" + head + "Content-Type: text/plain\r\n\r\nx\r\n").encode()
    with pytest.raises(MalformedEmail, match="nested"):
        parse_email(raw)


def test_reply_to_is_where_replies_go() -> None:
    raw = (b"From: Shop <noreply@shop.example.cn>\r\nReply-To: =?utf-8?B?"
           + base64.b64encode("售后".encode()) + b"?= <aftersales@shop.example.cn>\r\n"
           b"Subject: x\r\n\r\nbody\r\n")
    message = parse_email(raw)
    assert message.reply_address.address == "aftersales@shop.example.cn"
    assert message.reply_address.name == "售后"


def test_forwarded_message_is_kept_whole_as_an_eml_attachment() -> None:
    message = parse_email(fixture("bounce_dsn.eml"))
    status, original = message.attachments
    assert status.content_type == "message/delivery-status"
    assert b"Status: 5.1.1" in status.data
    assert original.content_type == "message/rfc822"
    assert original.filename == "Re: your question.eml"
    assert b"Message-ID: <kefu.00112233445566778899aabbccddeeff@mail.kefu.test>" in original.data


def test_unflow_joins_soft_breaks_and_undoes_space_stuffing() -> None:
    assert unflow("one \ntwo\n From here\n-- \nsig") == "one two\nFrom here\n-- \nsig"
    assert unflow("con \ntinued", delete_space=True) == "continued"


def parsed_or_refused(raw: bytes) -> str:
    """"parsed", or the refusal's sentence; anything else raised fails the test."""
    try:
        parse_email(raw)
    except MalformedEmail as exc:
        return str(exc)
    return "parsed"


FIXTURE_NAMES = ("gbk_subject_foxmail.eml", "big5_body_outlook.eml", "attachment_mixed.eml",
                 "inline_image.eml", "bounce_dsn.eml", "defects_tolerated.eml")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FIXTURE_NAMES), data=st.data())
def test_damaged_mail_parses_or_is_refused_never_crashes(name: str, data: st.DataObject) -> None:
    raw = bytearray(fixture(name))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.sampled_from(b"\x00\xff=?\r\n-\"<>:;\\ "))
    cut = data.draw(st.integers(1, len(raw)))
    assert parsed_or_refused(bytes(raw[:cut]))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_parse_or_are_refused_never_crash(raw: bytes) -> None:
    assert parsed_or_refused(raw)
