"""Loop and bounce detection: which mail must never get an automatic answer."""

from __future__ import annotations

import pytest

from kefu.channels.email.classify import MailKind
from kefu.channels.email.mime import parse_email
from tests.channels.email.peers import fixture

OWN = ("mail.kefu.test",)


def classify(headers: str, *, envelope_from: str | None = None, body: str = "hi") -> MailKind:
    raw = f"From: someone@example.cn\r\n{headers}Subject: x\r\n\r\n{body}\r\n".encode()
    return parse_email(raw, own_domains=OWN, envelope_from=envelope_from).classification.kind


@pytest.mark.parametrize(("headers", "kind"), [
    ("", MailKind.PERSONAL),
    ("Auto-Submitted: no\r\n", MailKind.PERSONAL),
    ("Auto-Submitted: auto-replied\r\n", MailKind.AUTO_REPLY),
    ("Auto-Submitted: auto-generated; owner-email=x@example.cn\r\n", MailKind.AUTO_GENERATED),
    ("X-Autoreply: yes\r\n", MailKind.AUTO_REPLY),
    ("X-Autorespond: vacation\r\n", MailKind.AUTO_REPLY),
    ("X-Auto-Response-Suppress: All\r\n", MailKind.AUTO_GENERATED),
    ("X-Auto-Response-Suppress: DR, RN\r\n", MailKind.PERSONAL),  # receipts only: not ours
    ("Precedence: bulk\r\n", MailKind.BULK),
    ("Precedence: junk\r\n", MailKind.BULK),
    ("Precedence: list\r\n", MailKind.MAILING_LIST),
    ("List-Id: Gas users <users.lists.example.cn>\r\n", MailKind.MAILING_LIST),
    ("List-Unsubscribe: <mailto:unsub@example.cn>\r\n", MailKind.BULK),
    ("Return-Path: <>\r\n", MailKind.BOUNCE),
    ("X-Failed-Recipients: a@example.cn\r\n", MailKind.BOUNCE),
    ("Message-ID: <kefu.0123456789abcdef0123456789abcdef@mail.kefu.test>\r\n",
     MailKind.OWN_MESSAGE),
    ("Message-ID: <kefu.0123@MAIL.KEFU.TEST>\r\n", MailKind.OWN_MESSAGE),
    # Staff mail under the same domain is not kefu's: the kefu. prefix is required.
    ("Message-ID: <CAF12345@mail.kefu.test>\r\n", MailKind.PERSONAL),
])
def test_header_signals(headers: str, kind: MailKind) -> None:
    assert classify(headers) is kind


def test_null_envelope_sender_is_a_bounce() -> None:
    assert classify("", envelope_from="") is MailKind.BOUNCE
    assert classify("", envelope_from="someone@example.cn") is MailKind.PERSONAL


def test_mailer_daemon_sender_is_a_bounce() -> None:
    raw = b"From: MAILER-DAEMON@mx.example.cn\r\nSubject: failure\r\n\r\nx\r\n"
    assert parse_email(raw).classification.kind is MailKind.BOUNCE


def test_delivery_status_report_is_a_bounce_with_every_reason() -> None:
    classification = parse_email(fixture("bounce_dsn.eml"), own_domains=OWN).classification
    assert classification.kind is MailKind.BOUNCE
    assert classification.automatic
    assert classification.reasons == (
        "null reverse-path (Return-Path: <>)",
        "multipart/report; report-type=delivery-status",
        "From: MAILER-DAEMON@mx.example.cn",
        "Auto-Submitted: auto-replied",
    )


def test_exchange_out_of_office_is_an_auto_reply() -> None:
    classification = parse_email(fixture("exchange_oof.eml"), own_domains=OWN).classification
    assert classification.kind is MailKind.AUTO_REPLY
    assert "X-Auto-Response-Suppress: All" in classification.reasons


def test_own_message_outranks_every_other_signal() -> None:
    kind = classify("Message-ID: <kefu.0a@mail.kefu.test>\r\nPrecedence: bulk\r\n"
                    "Auto-Submitted: auto-replied\r\n")
    assert kind is MailKind.OWN_MESSAGE
