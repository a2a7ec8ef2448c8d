"""kefu's SMTP listener with real clients: swaks (Debian) and the standard library's smtplib.

A sender must see 250 only for stored mail, and a clear SMTP error naming the problem for
everything refused, with nothing accepted earlier lost.
"""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import Sequence
from pathlib import Path

import pytest

from kefu.channels.email.delivery import DeliveryDeferred, DeliveryRejected
from kefu.channels.email.mime import parse_email
from kefu.channels.email.smtp_listener import SmtpListener, accept_domains
from tests.channels.email.peers import FIXTURES, Recorder, fixture, run, swaks

pytestmark = pytest.mark.slow
KEFU_DOMAINS = accept_domains({"kefu.test"})


def listener(deliver: Recorder, **options: object) -> SmtpListener:
    return SmtpListener(deliver, host="127.0.0.1", port=0, hostname="mx.kefu.test",
                        accept_recipient=KEFU_DOMAINS, **options)  # type: ignore[arg-type]


def test_swaks_plain_mail_arrives_exactly_as_sent() -> None:
    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored) as server:
            result = await swaks(server.port, "--header", "Subject: gas meter reading",
                                 "--body", "My meter reads 4182.\nPlease check.",
                                 sender="li.lei@example.cn", to="service@kefu.test")
        assert result.returncode == 0, result.transcript
        assert "250 2.0.0 Message accepted" in result.replies()
        (message,) = stored.messages
        assert message.envelope_from == "li.lei@example.cn"
        assert message.rcpt_tos == ("service@kefu.test",)
        assert message.raw == result.sent_data
        parsed = parse_email(message.raw)
        assert parsed.subject == "gas meter reading"
        assert parsed.text == "My meter reads 4182.\nPlease check."

    run(scenario())


def test_swaks_html_mail_keeps_both_alternatives() -> None:
    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored) as server:
            result = await swaks(server.port, "--header", "Subject: html",
                                 "--attach-type", "text/plain", "--attach-body", "plain words",
                                 "--attach-type", "text/html", "--attach-body",
                                 "<p>html <b>words</b><script>x()</script></p>")
        assert result.returncode == 0, result.transcript
        (message,) = stored.messages
        assert message.raw == result.sent_data
        parsed = parse_email(message.raw)
        assert parsed.text == "plain words"
        assert parsed.html == "<p>html <b>words</b><script>x()</script></p>"

    run(scenario())


def test_swaks_gbk_subject_foxmail_message_byte_for_byte() -> None:
    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored) as server:
            result = await swaks(server.port, "--data",
                                 f"@{FIXTURES / 'gbk_subject_foxmail.eml'}",
                                 sender="zhu.rong@example.cn")
            gbk_subject = "=?GBK?B?" + base64.b64encode("燃气费账单".encode("gbk")).decode() + "?="
            built = await swaks(server.port, "--header", f"Subject: {gbk_subject}",
                                "--body", "body")
        assert result.returncode == 0, result.transcript
        assert built.returncode == 0, built.transcript
        foxmail, swaks_built = stored.messages
        # swaks ends DATA with one extra empty line; everything else is the file's bytes.
        assert foxmail.raw.rstrip(b"\r\n") == fixture("gbk_subject_foxmail.eml").rstrip(b"\r\n")
        assert parse_email(foxmail.raw).subject == "燃气账单咨询（朱镕）"
        assert parse_email(swaks_built.raw).subject == "燃气费账单"

    run(scenario())


def test_swaks_attachment_bytes_survive(tmp_path: Path) -> None:
    document = tmp_path / "bill-2024-05.pdf"
    document.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 40)

    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored) as server:
            result = await swaks(server.port, "--header", "Subject: bill attached",
                                 "--body", "see attachment",
                                 "--attach-type", "application/pdf", "--attach", f"@{document}")
        assert result.returncode == 0, result.transcript
        (message,) = stored.messages
        assert message.raw == result.sent_data
        parsed = parse_email(message.raw)
        assert parsed.text == "see attachment"
        (attachment,) = parsed.attachments
        assert attachment.filename == "bill-2024-05.pdf"
        assert attachment.content_type == "application/pdf"
        assert attachment.data == document.read_bytes()

    run(scenario())


def test_malformed_mime_is_refused_with_the_problem_named() -> None:
    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored) as server:
            result = await swaks(server.port, "--data",
                                 f"@{FIXTURES / 'malformed_boundary_missing.eml'}")
        assert result.returncode != 0
        assert ("550 5.6.0 Malformed message: the multipart/mixed part declares boundary "
                "'declared-but-absent' but no part starts with it (RFC 2046 section 5.1.1)"
                ) in result.replies()
        assert stored.messages == []

    run(scenario())


def test_oversize_mail_is_refused_naming_the_limit(tmp_path: Path) -> None:
    body = tmp_path / "big.txt"
    body.write_text("a line of text that repeats\n" * 200)

    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored, max_message_bytes=2000) as server:
            result = await swaks(server.port, "--body", f"@{body}")

            def declared_size() -> tuple[int, bytes]:
                with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                    client.ehlo()
                    return client.mail("a@example.cn", ["SIZE=999999"])

            code, reply = await asyncio.to_thread(declared_size)
        limit = "5.3.4 Message too big: this server accepts at most 2000 bytes"
        assert f"552 {limit}" in result.replies()  # found out while reading DATA
        assert (code, reply.decode()) == (552, limit)  # announced with SIZE, refused at once
        assert stored.messages == []

    run(scenario())


def test_unknown_recipient_domain_is_refused_at_rcpt() -> None:
    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored) as server:
            result = await swaks(server.port, to="someone@elsewhere.example")
        assert result.returncode != 0
        assert ("550 5.7.1 <someone@elsewhere.example>: no such recipient here (not relaying)"
                in result.replies())
        assert stored.messages == []

    run(scenario())


def test_refusals_lose_nothing_accepted_before_on_the_same_connection() -> None:
    good = b"From: a@example.cn\r\nSubject: first\r\n\r\none\r\n"
    later = b"From: a@example.cn\r\nSubject: third\r\n\r\nthree\r\n"

    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored, max_message_bytes=4000) as server:

            def session() -> list[tuple[int, str]]:
                replies = []
                with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                    client.ehlo()
                    for raw in (good, fixture("malformed_no_boundary.eml"),
                                b"From: a@example.cn\r\n\r\n" + b"0123456789\r\n" * 500, later):
                        client.mail("a@example.cn")
                        client.rcpt("service@kefu.test")
                        code, reply = client.data(raw)
                        replies.append((code, reply.decode()))
                return replies

            replies = await asyncio.to_thread(session)
        assert [code for code, _ in replies] == [250, 550, 552, 250]
        assert [parse_email(m.raw).subject for m in stored.messages] == ["first", "third"]

    run(scenario())


def test_host_failures_ask_the_sender_to_retry_and_refusals_are_final() -> None:
    raw = b"From: a@example.cn\r\nMessage-ID: <once@example.cn>\r\nSubject: s\r\n\r\nx\r\n"
    outcomes: list[Exception | None] = [DeliveryDeferred("database unavailable"),
                                        RuntimeError("bug"), DeliveryRejected("customer blocked"),
                                        None]
    stored = Recorder()

    async def deliver(envelope_from: str, rcpt_tos: Sequence[str], data: bytes) -> None:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        await stored(envelope_from, rcpt_tos, data)

    async def scenario() -> list[tuple[int, str]]:
        async with SmtpListener(deliver, hostname="mx.kefu.test") as server:

            def attempts() -> list[tuple[int, str]]:
                replies = []
                with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                    client.ehlo()
                    for _ in range(4):
                        client.mail("a@example.cn")
                        client.rcpt("service@kefu.test")
                        code, reply = client.data(raw)
                        replies.append((code, reply.decode()))
                return replies

            return await asyncio.to_thread(attempts)

    assert run(scenario()) == [
        (451, "4.3.0 Cannot store the message now, please retry: database unavailable"),
        (451, "4.3.0 Cannot store the message now, please retry"),
        (550, "5.7.1 Message refused: customer blocked"),
        (250, "2.0.0 Message accepted"),
    ]
    assert [message.raw for message in stored.messages] == [raw]


def test_slow_host_gets_a_retry_not_a_false_acceptance() -> None:
    release = asyncio.Event()

    async def never_finishes(envelope_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        await release.wait()

    async def scenario() -> tuple[int, bytes]:
        async with SmtpListener(never_finishes, delivery_timeout=0.2) as server:

            def send() -> tuple[int, bytes]:
                with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                    client.ehlo()
                    client.mail("a@example.cn")
                    client.rcpt("service@kefu.test")
                    return client.data(b"From: a@example.cn\r\n\r\nx\r\n")

            return await asyncio.to_thread(send)

    assert run(scenario()) == (451, b"4.3.0 Storing the message timed out, please retry")


def test_bounces_arrive_with_the_null_reverse_path() -> None:
    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored) as server:
            result = await swaks(server.port, "--data",
                                 f"@{FIXTURES / 'bounce_dsn.eml'}", sender="<>")
        assert result.returncode == 0, result.transcript
        (message,) = stored.messages
        assert message.envelope_from == ""

    run(scenario())


def test_recipient_and_connection_limits() -> None:
    async def scenario() -> None:
        stored = Recorder()
        async with listener(stored, max_recipients=2, max_connections=1) as server:

            def limits() -> tuple[list[int], str]:
                with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
                    client.ehlo()
                    client.mail("a@example.cn")
                    codes = [client.rcpt(f"agent{i}@kefu.test")[0] for i in range(3)]
                    try:
                        smtplib.SMTP("127.0.0.1", server.port, timeout=10)
                    except smtplib.SMTPConnectError as exc:
                        return codes, f"{exc.smtp_code} {exc.smtp_error.decode()}"
                return codes, "second connection accepted"

            codes, second = await asyncio.to_thread(limits)
        assert codes == [250, 250, 452]
        assert second == "421 4.7.0 Too many connections, try again later"

    run(scenario())
