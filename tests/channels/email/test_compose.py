"""Outbound mail: what kefu sends must read right in the customer's mail reader, thread
back to the interaction, and never feed a loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kefu.channels.email.classify import MailKind
from kefu.channels.email.compose import (
    AutoReplyRefused,
    compose_email,
    compose_reply,
    decide_auto_reply,
    reply_subject,
)
from kefu.channels.email.ids import is_own_message_id
from kefu.channels.email.mime import Attachment, EmailAddress, parse_email
from tests.channels.email.peers import fixture

DOMAIN = "mail.kefu.test"
SERVICE = EmailAddress("service@kefu.test", "燃气客服中心")
NOW = datetime(2024, 6, 3, 2, 0, tzinfo=UTC)


def test_reply_round_trip_keeps_chinese_headers_body_and_threading() -> None:
    original = parse_email(fixture("gbk_subject_foxmail.eml"))
    reply = compose_reply(original, sender=SERVICE, text="朱先生您好：\n\n已为您核实，账单无误。",
                          html="<p>朱先生您好：</p><p>已为您核实，账单无误。</p>",
                          message_id_domain=DOMAIN, now=NOW)
    assert reply.raw.isascii()  # 7-bit safe for any relay
    assert reply.recipients == ("zhu.rong@example.cn",)
    assert reply.envelope_from == "service@kefu.test"
    parsed = parse_email(reply.raw, own_domains=(DOMAIN,))
    assert parsed.subject == "Re: 燃气账单咨询（朱镕）"
    assert parsed.from_address == SERVICE
    assert parsed.to[0].name == "朱镕"
    assert parsed.text == "朱先生您好：\n\n已为您核实，账单无误。"
    assert parsed.html is not None
    assert "<p>已为您核实，账单无误。</p>" in parsed.html
    assert parsed.message_id == reply.message_id
    assert parsed.in_reply_to == ("202406030915012345678@example.cn",)
    assert parsed.references == ("202406030915012345678@example.cn",)
    assert parsed.date == NOW
    # The reply coming back to kefu would be recognised as its own.
    assert parsed.classification.kind is MailKind.OWN_MESSAGE
    assert is_own_message_id(reply.message_id, {DOMAIN})


def test_reply_extends_the_thread_references() -> None:
    original = parse_email(fixture("utf8_qp_thunderbird.eml"))
    reply = parse_email(compose_reply(original, sender=SERVICE, text="ok",
                                      message_id_domain=DOMAIN).raw)
    assert reply.references == (
        "first@example.de",
        "kefu.0f1e2d3c4b5a69788796a5b4c3d2e1f0@mail.kefu.test",
        "7c1b2a3e-9d41-4f6e-8c2a-5b0e1d2f3a4b@example.de",
    )
    assert reply.subject == "Re: Ihre Rechnung – Zählerstand"  # no "Re: Re:"


def test_attachments_and_inline_images_round_trip() -> None:
    pdf = Attachment("账单 2024-05.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(range(256)))
    logo = Attachment("logo.png", "image/png", b"\x89PNG\r\n\x1a\nfake", content_id="logo@kefu",
                      inline=True)
    sent = compose_email(sender=SERVICE, to=[EmailAddress("a@example.cn")], subject="账单",
                         text="见附件", html='<p>见附件</p><img src="cid:logo@kefu">',
                         attachments=[pdf, logo], message_id_domain=DOMAIN)
    parsed = parse_email(sent.raw)
    assert parsed.text == "见附件"
    by_name = {part.filename: part for part in parsed.attachments}
    assert by_name["账单 2024-05.pdf"].data == pdf.data
    assert not by_name["账单 2024-05.pdf"].inline
    assert parsed.inline_images[0].content_id == "logo@kefu"
    assert parsed.inline_images[0].data == logo.data


def test_automatic_answer_is_marked_and_uses_the_null_reverse_path() -> None:
    original = parse_email(fixture("big5_body_outlook.eml"))
    answer = compose_reply(original, sender=SERVICE, text="我们已收到您的来信。",
                           message_id_domain=DOMAIN, automatic=True)
    assert answer.automatic
    assert answer.envelope_from == ""  # RFC 3834 §3.3: bounces of it go nowhere
    parsed = parse_email(answer.raw)
    assert parsed.subject == "Auto: 帳單疑問"
    assert parsed.classification.kind is MailKind.AUTO_REPLY
    assert "Auto-Submitted: auto-replied" in parsed.classification.reasons
    assert "X-Auto-Response-Suppress: All" in parsed.classification.reasons


@pytest.mark.parametrize("name", ["bounce_dsn.eml", "exchange_oof.eml"])
def test_automatic_answer_to_automatic_mail_is_refused(name: str) -> None:
    original = parse_email(fixture(name), own_domains=(DOMAIN,))
    with pytest.raises(AutoReplyRefused, match="mail automatically"):
        compose_reply(original, sender=SERVICE, text="x", message_id_domain=DOMAIN,
                      automatic=True)
    # A person may still answer it.
    assert compose_reply(original, sender=SERVICE, text="x", message_id_domain=DOMAIN).raw


def test_header_injection_through_subject_or_name_is_impossible() -> None:
    sent = compose_email(sender=EmailAddress("service@kefu.test", "Help\r\nBcc: x@evil.cn"),
                         to=[EmailAddress("a@example.cn")],
                         subject="hello\r\nBcc: victim@evil.cn", text="x",
                         message_id_domain=DOMAIN)
    assert b"\r\nBcc:" not in sent.raw
    assert sent.recipients == ("a@example.cn",)
    assert parse_email(sent.raw).subject == "hello Bcc: victim@evil.cn"


def test_bcc_is_a_recipient_but_not_written() -> None:
    sent = compose_email(sender=SERVICE, to=[EmailAddress("a@example.cn")],
                         bcc=[EmailAddress("audit@kefu.test")], subject="s", text="t",
                         message_id_domain=DOMAIN)
    assert sent.recipients == ("a@example.cn", "audit@kefu.test")
    assert b"audit@kefu.test" not in sent.raw


def test_bad_message_id_domain_and_no_recipient_are_refused() -> None:
    with pytest.raises(ValueError, match="not a host name"):
        compose_email(sender=SERVICE, to=[EmailAddress("a@example.cn")], subject="s",
                      text="t", message_id_domain="bad domain>")
    with pytest.raises(ValueError, match="'not an address' is not a mail address kefu can send to"):
        compose_email(sender=SERVICE, to=[EmailAddress("not an address")], subject="s",
                      text="t", message_id_domain=DOMAIN)
    with pytest.raises(ValueError, match="at least one recipient"):
        compose_email(sender=SERVICE, to=[], subject="s", text="t", message_id_domain=DOMAIN)


@pytest.mark.parametrize(("subject", "expected"), [
    ("账单", "Re: 账单"), ("Re: 账单", "Re: 账单"), ("RE[2]: x", "RE[2]: x"),
    ("回复：账单", "回复：账单"), ("AW: Rechnung", "AW: Rechnung"), ("", "Re:"),
])
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_auto_reply_decision_follows_rfc_3834() -> None:
    personal = parse_email(fixture("big5_body_outlook.eml"), own_domains=(DOMAIN,))
    decide = decide_auto_reply
    assert decide(personal, own_addresses={"service@kefu.test"}, last_auto_reply_at=None,
                  now=NOW).allowed
    recent = decide(personal, own_addresses=(), last_auto_reply_at=NOW - timedelta(hours=2),
                    now=NOW)
    assert not recent.allowed
    assert recent.reason == ("may.chen@example.tw was answered automatically at "
                             "2024-06-03T00:00:00+00:00")
    assert decide(personal, own_addresses=(), last_auto_reply_at=NOW - timedelta(days=2),
                  now=NOW).allowed
    bounce = parse_email(fixture("bounce_dsn.eml"))
    refused = decide(bounce, own_addresses=(), last_auto_reply_at=None, now=NOW)
    assert not refused.allowed
    assert refused.reason.startswith("bounce mail: ")
    ourselves = parse_email(b"From: Service@Kefu.test\r\nSubject: x\r\n\r\nx\r\n")
    assert decide(ourselves, own_addresses={"service@kefu.test"}, last_auto_reply_at=None,
                  now=NOW).reason == "service@kefu.test is kefu's own address"
    noreply = parse_email(b"From: noreply@shop.example.cn\r\nSubject: x\r\n\r\nx\r\n")
    assert not decide(noreply, own_addresses=(), last_auto_reply_at=None, now=NOW).allowed
