"""Email end to end: swaks sends to kefu's SMTP listener, the platform stores and threads the
mail and runs the tenant's rules, and what kefu sends reaches the relay (an SMTP sink)."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from email import message_from_bytes
from pathlib import Path

import pytest
import sqlalchemy as sa

from kefu.channels.email.mime import parse_email
from kefu.platform.customers.models import Customer
from kefu.platform.interactions.models import Direction, Message, MessageStatus
from kefu.platform.messaging.attachments import AttachmentStore
from kefu.platform.messaging.outbound import Outbox
from tests.functional.email.conftest import (
    FIXTURES,
    MAX_ATTACHMENT_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_ID_DOMAIN,
    MailSystem,
    MailTenant,
    quiet,
    wait_until,
)

pytestmark = pytest.mark.slow

Make = Callable[..., MailTenant]


def header(raw: bytes, name: str) -> str | None:
    value = message_from_bytes(raw).get(name)
    return None if value is None else str(value)


def sent_ok(result: tuple[int, str]) -> str:
    code, transcript = result
    assert code == 0, transcript
    assert "250 2.0.0 Message accepted" in transcript
    return transcript


def test_mail_is_acknowledged_and_the_customers_reply_threads_into_the_same_interaction(
        system: MailSystem, mail_tenant: Make) -> None:
    acme = mail_tenant()
    sent_ok(system.swaks("--header", "Subject: Meter reading", "--body",
                         "My meter reads 4182.\nPlease check.", sender="li.lei@example.cn"))
    (first,) = wait_until(acme.inbound, "the mail to be stored")
    assert first.subject == "Meter reading"
    assert first.body_text.strip() == "My meter reads 4182.\nPlease check."
    assert first.sender == "li.lei@example.cn"
    (interaction,) = acme.interactions()
    assert interaction.channel.value == "email"
    assert interaction.from_address == "li.lei@example.cn"
    assert interaction.to_address == "help@mailco.test"
    assert interaction.queue == "general"

    # The rule's acknowledgement reaches the relay: automatic, threaded, null reverse-path.
    (delivered,) = wait_until(lambda: system.sent_to("li.lei@example.cn"), "the acknowledgement")
    ack = parse_email(delivered.raw)
    assert delivered.envelope_from == ""
    assert header(delivered.raw, "Auto-Submitted") == "auto-replied"
    assert ack.in_reply_to == (first.headers["message_id"],)
    assert ack.from_address.address == "help@mailco.test"
    assert ack.subject == "Re: Meter reading"
    assert "We will answer within a day." in ack.text
    assert ack.message_id is not None
    assert ack.message_id.endswith("@" + MESSAGE_ID_DOMAIN)
    stored_ack = wait_until(lambda: acme.messages(Message.direction == Direction.OUTBOUND,
                                                  Message.status == MessageStatus.SENT),
                            "the acknowledgement marked sent")
    assert stored_ack[0].external_id == ack.message_id
    assert stored_ack[0].interaction_id == interaction.id

    # The customer answers the acknowledgement: same interaction.
    sent_ok(system.swaks(
        "--header", "Subject: Re: Meter reading",
        "--add-header", f"In-Reply-To: <{ack.message_id}>",
        "--add-header", f"References: <{first.headers['message_id']}> <{ack.message_id}>",
        "--body", "The meter number is A-778.", sender="li.lei@example.cn"))
    reply = wait_until(lambda: len(acme.inbound()) == 2 and acme.inbound()[1],
                       "the reply to be stored")
    assert reply.interaction_id == interaction.id
    assert [i.id for i in acme.interactions()] == [interaction.id]
    quiet(system)
    # One automatic answer per sender a day: the rule fired again, the mail was not sent.
    assert len(system.sent_to("li.lei@example.cn")) == 1
    suppressed = acme.messages(Message.status == MessageStatus.FAILED)
    assert len(suppressed) == 1
    assert "suppressed" in (suppressed[0].error or "")

    # An agent's reply goes out threaded under the customer's last mail, not automatic.
    with acme.session() as db:
        Outbox(system.platform, db).reply(db.merge(interaction), "We read it again: 4128.")
        db.commit()
    delivered_reply = wait_until(lambda: len(system.sent_to("li.lei@example.cn")) == 2
                                 and system.sent_to("li.lei@example.cn")[1], "the agent's reply")
    answer = parse_email(delivered_reply.raw)
    assert answer.text.strip() == "We read it again: 4128."
    assert answer.in_reply_to == (reply.headers["message_id"],)
    assert answer.references == (first.headers["message_id"], ack.message_id,
                                 reply.headers["message_id"])
    assert answer.subject == "Re: Meter reading"
    assert header(delivered_reply.raw, "Auto-Submitted") is None
    assert delivered_reply.envelope_from == "help@mailco.test"


def test_html_mail_is_stored_with_safe_text(system: MailSystem, mail_tenant: Make) -> None:
    acme = mail_tenant()
    sent_ok(system.swaks(
        "--header", "Subject: Photo of the meter",
        "--add-header", "MIME-Version: 1.0",
        "--add-header", "Content-Type: text/html; charset=utf-8",
        "--body", '<html><head><style>p{color:red}</style></head><body><p>Hello <b>there</b>'
                  '</p><script>steal(document.cookie)</script><a href="javascript:x()">'
                  'click</a></body></html>'))
    (message,) = wait_until(acme.inbound, "the mail to be stored")
    assert "Hello there" in message.body_text
    assert "steal" not in message.body_text
    assert "color:red" not in message.body_text
    assert "javascript" not in message.body_text
    assert message.body_html is not None
    assert "<script>" in message.body_html


def test_gbk_subject_sender_name_and_body_are_decoded(system: MailSystem,
                                                      mail_tenant: Make) -> None:
    acme = mail_tenant()

    def gbk(text: str) -> str:
        return "=?GBK?B?" + base64.b64encode(text.encode("gbk")).decode() + "?="

    body = base64.b64encode("您好，我家的燃气表读数不对，户号 3301-2287。".encode("gbk")).decode()
    sent_ok(system.swaks(
        "--header", f"Subject: {gbk('燃气费账单有误')}",
        "--header", f"From: {gbk('朱蓉')} <zhu.rong@example.cn>",
        "--add-header", "MIME-Version: 1.0",
        "--add-header", "Content-Type: text/plain; charset=GBK",
        "--add-header", "Content-Transfer-Encoding: base64",
        "--body", body, sender="zhu.rong@example.cn"))
    (message,) = wait_until(acme.inbound, "the mail to be stored")
    assert message.subject == "燃气费账单有误"
    assert message.body_text.strip() == "您好，我家的燃气表读数不对，户号 3301-2287。"
    with acme.session() as db:
        (customer,) = db.scalars(sa.select(Customer))
        assert customer.name == "朱蓉"
    # The acknowledgement's subject goes out in UTF-8 (RFC 2047) and reads the same.
    (delivered,) = wait_until(lambda: system.sent_to("zhu.rong@example.cn"), "the answer")
    assert parse_email(delivered.raw).subject == "Re: 燃气费账单有误"


def test_attachments_are_stored_by_hash_and_oversized_ones_refused_with_a_reason(
        system: MailSystem, mail_tenant: Make, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    acme = mail_tenant()
    document = tmp_path / "账单-2024-05.pdf"
    content = b"%PDF-1.4\n" + bytes(range(256)) * 20 + b"\n%%EOF\n"
    document.write_bytes(content)
    sent_ok(system.swaks("--header", "Subject: bill attached", "--body", "see attachment",
                         "--attach-type", "application/pdf", "--attach", f"@{document}"))
    (message,) = wait_until(acme.inbound, "the mail to be stored")
    (attachment,) = message.attachments
    assert attachment.filename == "账单-2024-05.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == len(content)
    assert attachment.sha256 == hashlib.sha256(content).hexdigest()
    assert AttachmentStore.from_settings(system.platform.settings).read(
        attachment.storage_ref) == content

    huge = tmp_path / "scan.pdf"
    huge.write_bytes(b"%PDF-1.4\n" + b"0" * (MAX_ATTACHMENT_BYTES + 1000))
    sent_ok(system.swaks("--header", "Subject: big scan", "--body", "the scan",
                         "--attach-type", "application/pdf", "--attach", f"@{huge}"))
    second = wait_until(lambda: len(acme.inbound()) == 2 and acme.inbound()[1],
                        "the second mail to be stored")
    assert second.body_text.strip() == "the scan"  # the message is kept...
    assert second.attachments == []  # ...without the file, and says why
    (reason,) = second.headers["rejected_attachments"]
    assert "'scan.pdf'" in reason
    assert f"at most {MAX_ATTACHMENT_BYTES}" in reason
    assert any("attachment refused" in r.getMessage() and "scan.pdf" in r.getMessage()
               for r in caplog.records)


def test_inline_images_keep_their_content_id(system: MailSystem, mail_tenant: Make) -> None:
    acme = mail_tenant()
    sent_ok(system.swaks("--data", f"@{FIXTURES / 'inline_image.eml'}"))
    (message,) = wait_until(acme.inbound, "the mail to be stored")
    inline = [a for a in message.attachments if a.content_id]
    assert inline
    assert inline[0].content_type.startswith("image/")
    assert message.body_html is not None
    assert f"cid:{inline[0].content_id}" in message.body_html


def test_the_same_message_delivered_twice_is_stored_once(system: MailSystem,
                                                         mail_tenant: Make,
                                                         tmp_path: Path) -> None:
    acme = mail_tenant()
    raw = (b"From: Li Lei <li.lei@example.cn>\r\nTo: help@mailco.test\r\n"
           b"Subject: twice\r\nMessage-ID: <twice-1@example.cn>\r\n"
           b"Date: Mon, 3 Jun 2024 09:15:02 +0800\r\n\r\nSent twice by a retrying MTA.\r\n")
    path = tmp_path / "twice.eml"
    path.write_bytes(raw)
    sent_ok(system.swaks("--data", f"@{path}"))
    sent_ok(system.swaks("--data", f"@{path}"))  # the sender never saw the first 250
    quiet(system)
    (message,) = acme.inbound()
    assert message.external_id == "mid:twice-1@example.cn from:li.lei@example.cn"
    assert len(system.sent_to("li.lei@example.cn")) == 1  # acknowledged once


def test_mail_to_an_unknown_address_is_refused_at_rcpt(system: MailSystem, mail_tenant: Make,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    acme = mail_tenant()
    code, transcript = system.swaks("--body", "hello", to="nobody@mailco.test")
    assert code != 0
    assert "550 5.7.1 <nobody@mailco.test>: no such recipient here (not relaying)" in transcript
    assert any("nobody@mailco.test" in r.getMessage() and "no tenant" in r.getMessage()
               for r in caplog.records)
    assert acme.inbound() == []


def test_a_tenants_mailbox_delivers_only_into_that_tenant(system: MailSystem,
                                                          mail_tenant: Make) -> None:
    acme = mail_tenant("help@mailco.test")
    other = mail_tenant("Support@Other.test")
    sent_ok(system.swaks("--header", "Subject: for other", "--body", "other only",
                         to="support@other.test"))
    (message,) = wait_until(other.inbound, "the mail in the other tenant")
    assert message.body_text.strip() == "other only"
    (delivered,) = wait_until(lambda: system.sent_to("li.lei@example.cn"), "other's answer")
    ack = parse_email(delivered.raw)
    assert ack.from_address.address == "Support@Other.test"

    # Quoting the other tenant's Message-ID to acme's mailbox lands in acme, as a new thread.
    sent_ok(system.swaks("--add-header", f"In-Reply-To: <{ack.message_id}>",
                         "--header", "Subject: Re: for other", "--body", "to acme"))
    (in_acme,) = wait_until(acme.inbound, "the mail in acme")
    assert in_acme.body_text.strip() == "to acme"
    quiet(system)
    assert len(other.inbound()) == 1
    assert len(other.interactions()) == 1
    assert len(acme.interactions()) == 1
    assert in_acme.interaction_id != message.interaction_id

    # One mail to both mailboxes: each tenant stores its own copy.
    sent_ok(system.swaks("--header", "Subject: to both", "--body", "both",
                         to="help@mailco.test,support@other.test"))
    wait_until(lambda: len(acme.inbound()) == 2 and len(other.inbound()) == 2, "both copies")
    assert acme.inbound()[1].recipients == ["help@mailco.test"]
    assert other.inbound()[1].recipients == ["support@other.test"]


@pytest.mark.parametrize("marks_auto_submitted", [True, False],
                         ids=["responder-marks-its-mail", "naive-unmarked-responder"])
def test_an_auto_responder_loop_stops_after_one_automatic_answer(
        system: MailSystem, mail_tenant: Make, marks_auto_submitted: bool) -> None:
    acme = mail_tenant()
    system.responder.marks_auto_submitted = marks_auto_submitted
    sent_ok(system.swaks("--header", "Subject: Invoice 2024-05", "--body", "Please see.",
                         sender="boss@responder.test"))
    # kefu acknowledges; the responder answers the acknowledgement; then it must stop.
    wait_until(lambda: len(acme.inbound()) == 2, "the responder's answer to be stored")
    quiet(system)
    assert len(system.sent_to("boss@responder.test")) == 1
    assert len(system.responder.answers) == 1
    first, answer = acme.inbound()
    assert answer.interaction_id == first.interaction_id  # it quoted our Message-ID
    outbound = acme.messages(Message.direction == Direction.OUTBOUND)
    if marks_auto_submitted:
        assert answer.headers["automated"] is True
        assert answer.headers["mail_kind"] == "auto_reply"
        assert [m.status for m in outbound] == [MessageStatus.SENT]  # no rule ran on it
    else:
        assert "automated" not in answer.headers
        assert [m.status for m in outbound] == [MessageStatus.SENT, MessageStatus.FAILED]
        assert "was answered automatically" in (outbound[1].error or "")


def test_a_bounce_is_stored_but_never_answered(system: MailSystem, mail_tenant: Make) -> None:
    acme = mail_tenant()
    sent_ok(system.swaks("--data", f"@{FIXTURES / 'bounce_dsn.eml'}", sender="<>"))
    (bounce,) = wait_until(acme.inbound, "the bounce to be stored")
    quiet(system)
    assert bounce.headers["automated"] is True
    assert bounce.headers["mail_kind"] == "bounce"
    assert acme.messages(Message.direction == Direction.OUTBOUND) == []
    assert system.sink.received == []


def test_malformed_and_oversized_mail_is_refused_and_the_listener_keeps_serving(
        system: MailSystem, mail_tenant: Make, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    acme = mail_tenant()
    code, transcript = system.swaks("--data", f"@{FIXTURES / 'malformed_boundary_missing.eml'}")
    assert code != 0
    assert ("550 5.6.0 Malformed message: the multipart/mixed part declares boundary "
            "'declared-but-absent' but no part starts with it") in transcript
    assert any("malformed" in r.getMessage() and "declared-but-absent" in r.getMessage()
               for r in caplog.records)

    big = tmp_path / "big.txt"
    big.write_text(("x" * 70 + "\n") * (MAX_MESSAGE_BYTES // 70 + 100))
    code, transcript = system.swaks("--header", "Subject: huge", "--body", f"@{big}")
    assert code != 0
    assert (f"552 5.3.4 Message too big: this server accepts at most {MAX_MESSAGE_BYTES} bytes"
            in transcript)
    assert any("over the size limit" in r.getMessage() for r in caplog.records)

    sent_ok(system.swaks("--header", "Subject: still here?", "--body", "a good one"))
    (message,) = wait_until(acme.inbound, "the good mail to be stored")
    assert message.subject == "still here?"


def test_a_reply_the_relay_refuses_for_good_fails_with_the_relays_reason(
        system: MailSystem, mail_tenant: Make) -> None:
    acme = mail_tenant()
    system.sink.refuse.add("gone@example.cn")
    try:
        sent_ok(system.swaks("--header", "Subject: hello", "--body", "hi",
                             sender="gone@example.cn"))
        quiet(system)
        (failed,) = acme.messages(Message.direction == Direction.OUTBOUND)
    finally:
        system.sink.refuse.discard("gone@example.cn")
    assert failed.status == MessageStatus.FAILED
    assert failed.attempts == 1  # a 5xx is not retried
    assert "550 5.1.1 mailbox unavailable" in (failed.error or "")
