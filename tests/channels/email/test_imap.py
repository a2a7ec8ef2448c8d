"""Polling a real IMAP server (Dovecot, run privately on 127.0.0.1) into the deliver callable."""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections.abc import Iterator, Sequence

import pytest

from kefu.channels.email.delivery import DeliveryDeferred, DeliveryRejected
from kefu.channels.email.imap import (
    ImapError,
    ImapPoller,
    ImapSettings,
    MailboxCursor,
    MemoryCursorStore,
)
from kefu.channels.email.tls import Security
from tests.channels.email.peers import DovecotServer, Recorder, fixture, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


@pytest.fixture
def mailbox(dovecot: DovecotServer, request: pytest.FixtureRequest) -> str:
    """A fresh folder per test."""
    name = re.sub(r"\W", "", request.node.name)[:40]
    with client(dovecot) as imap:
        imap.create(name)
    return name


def client(dovecot: DovecotServer) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10)
    imap.login(dovecot.username, dovecot.password)
    return imap


def append(dovecot: DovecotServer, mailbox: str, *messages: bytes) -> None:
    with client(dovecot) as imap:
        for raw in messages:
            status, _ = imap.append(mailbox, None, None, raw)
            assert status == "OK"


def unseen(dovecot: DovecotServer, mailbox: str) -> list[int]:
    with client(dovecot) as imap:
        imap.select(mailbox, readonly=True)
        _, data = imap.uid("SEARCH", "UNSEEN")
        return [int(uid) for uid in (data[0] or b"").split()]


def settings(dovecot: DovecotServer, mailbox: str, **options: object) -> ImapSettings:
    return ImapSettings(host="127.0.0.1", port=dovecot.port, security=Security.NONE,
                        username=dovecot.username, password=dovecot.password, mailbox=mailbox,
                        address="service@kefu.test", timeout=10,
                        **options)  # type: ignore[arg-type]


def test_unseen_mail_is_delivered_once_and_marked_seen_after(dovecot: DovecotServer,
                                                             mailbox: str) -> None:
    with_return_path = b"Return-Path: <may.chen@example.tw>\r\n" + fixture("big5_body_outlook.eml")
    messages = [fixture("gbk_subject_foxmail.eml"), with_return_path,
                fixture("attachment_mixed.eml")]
    append(dovecot, mailbox, *messages)
    stored = Recorder()
    cursors = MemoryCursorStore()
    poller = ImapPoller(settings(dovecot, mailbox), stored, cursors)

    first = run(poller.poll_once())
    again = run(poller.poll_once())

    assert [m.raw for m in stored.messages] == messages
    assert [m.envelope_from for m in stored.messages] == ["", "may.chen@example.tw", ""]
    assert {m.rcpt_tos for m in stored.messages} == {("service@kefu.test",)}
    assert first.delivered == (1, 2, 3)
    assert first.rejected == ()
    assert first.deferred is None
    assert cursors.cursor is not None
    assert cursors.cursor.last_uid == 3
    assert unseen(dovecot, mailbox) == []
    assert again.delivered == ()
    assert len(stored.messages) == 3


def test_a_deferred_delivery_stops_the_poll_and_is_retried_in_order(
        dovecot: DovecotServer, mailbox: str) -> None:
    append(dovecot, mailbox, *(f"From: c@example.cn\r\nSubject: m{i}\r\n\r\nx\r\n".encode()
                               for i in range(1, 4)))
    stored = Recorder()
    failures = [None, DeliveryDeferred("database unavailable")]

    async def deliver(envelope_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        failure = failures.pop(0) if failures else None
        if failure is not None:
            raise failure
        await stored(envelope_from, rcpt_tos, raw)

    poller = ImapPoller(settings(dovecot, mailbox), deliver, MemoryCursorStore())
    interrupted = run(poller.poll_once())
    assert interrupted.delivered == (1,)
    assert interrupted.deferred == "UID 2: database unavailable"
    assert unseen(dovecot, mailbox) == [2, 3]  # not acknowledged: still waiting
    resumed = run(poller.poll_once())
    assert resumed.delivered == (2, 3)
    assert [m.raw.split(b"\r\n")[1] for m in stored.messages] == [
        b"Subject: m1", b"Subject: m2", b"Subject: m3"]


def test_oversize_malformed_and_refused_mail_is_left_unseen_for_a_person(
        dovecot: DovecotServer, mailbox: str) -> None:
    big = b"From: c@example.cn\r\nSubject: big\r\n\r\n" + b"0123456789\r\n" * 500
    blocked = b"From: spam@example.cn\r\nSubject: spam\r\n\r\nx\r\n"
    fine = b"From: c@example.cn\r\nSubject: fine\r\n\r\nx\r\n"
    append(dovecot, mailbox, big, fixture("malformed_no_boundary.eml"), blocked, fine)
    stored = Recorder()

    async def deliver(envelope_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
        if b"spam@" in raw:
            raise DeliveryRejected("sender is blocked")
        await stored(envelope_from, rcpt_tos, raw)

    poller = ImapPoller(settings(dovecot, mailbox, max_message_bytes=2000), deliver,
                        MemoryCursorStore())
    result = run(poller.poll_once())
    again = run(poller.poll_once())

    assert result.delivered == (4,)
    assert [m.raw for m in stored.messages] == [fine]
    assert result.rejected == (
        (1, f"message of {len(big)} bytes is over the limit of 2000 bytes"),
        (2, "malformed message: the multipart/mixed part has no boundary parameter, so its "
            "parts cannot be told apart (RFC 2046 section 5.1.1)"),
        (3, "refused by kefu: sender is blocked"),
    )
    assert unseen(dovecot, mailbox) == [1, 2, 3]
    assert again.delivered == ()
    assert again.rejected == ()


def test_a_rebuilt_mailbox_is_read_again(dovecot: DovecotServer, mailbox: str) -> None:
    append(dovecot, mailbox, fixture("inline_image.eml"))
    stored = Recorder()
    stale = MemoryCursorStore(MailboxCursor(uidvalidity=1, last_uid=999))
    result = run(ImapPoller(settings(dovecot, mailbox), stored, stale).poll_once())
    assert result.delivered == (1,)
    assert stale.cursor is not None
    assert stale.cursor.uidvalidity != 1
    assert stale.cursor.last_uid == 1


def test_batches_leave_the_rest_for_the_next_poll(dovecot: DovecotServer,
                                                  mailbox: str) -> None:
    append(dovecot, mailbox, *(f"From: c@example.cn\r\nSubject: b{i}\r\n\r\nx\r\n".encode()
                               for i in range(5)))
    stored = Recorder()
    poller = ImapPoller(settings(dovecot, mailbox, batch_size=2), stored, MemoryCursorStore())
    first = run(poller.poll_once())
    assert (first.delivered, first.more) == ((1, 2), True)

    async def until_drained() -> None:
        stop = asyncio.Event()
        original = poller.deliver

        async def deliver(envelope_from: str, rcpt_tos: Sequence[str], raw: bytes) -> None:
            await original(envelope_from, rcpt_tos, raw)
            if len(stored.messages) == 5:
                stop.set()

        poller.deliver = deliver
        await poller.run(stop, interval=30)  # a backlog is polled at once, not after 30 s

    run(until_drained(), timeout=20)
    assert len(stored.messages) == 5


def test_password_is_never_sent_unencrypted_to_another_host() -> None:
    remote = ImapSettings(host="imap.example.cn", port=143, security=Security.NONE,
                          username="u", password="p", timeout=1)
    poller = ImapPoller(remote, Recorder(), MemoryCursorStore())
    with pytest.raises(ImapError, match="refusing to send the IMAP password unencrypted"):
        run(poller.poll_once())


def test_missing_folder_and_wrong_password_are_clear_errors(dovecot: DovecotServer) -> None:
    # Last in the module: after a failed login Dovecot slows further logins from the address.
    no_folder = settings(dovecot, "NoSuchFolder")
    with pytest.raises(ImapError, match="cannot open mailbox 'NoSuchFolder'"):
        run(ImapPoller(no_folder, Recorder(), MemoryCursorStore()).poll_once())

    bad_login = ImapSettings(host="127.0.0.1", port=dovecot.port, security=Security.NONE,
                             username=dovecot.username, password="wrong", timeout=10)
    with pytest.raises(ImapError) as login:
        run(ImapPoller(bad_login, Recorder(), MemoryCursorStore()).poll_once())
    assert str(login.value).startswith(f"IMAP 127.0.0.1:{dovecot.port} (service): ")
    assert "AUTHENTICATIONFAILED" in str(login.value)
