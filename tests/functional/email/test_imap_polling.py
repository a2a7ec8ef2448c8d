"""A mailbox on a real IMAP server (a private Dovecot) polled into the platform by the email
runtime service configured through ``email.imap_accounts``."""

from __future__ import annotations

import imaplib
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from kefu.platform.context import Platform
from kefu.platform.runtime_host import RuntimeHost
from tests.channels.email.peers import DovecotServer
from tests.functional.email.conftest import MailSystem, MailTenant, quiet, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    with DovecotServer() as server:
        yield server


def imap(dovecot: DovecotServer) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", dovecot.port, timeout=10)
    client.login(dovecot.username, dovecot.password)
    return client


def mail(message_id: str, subject: str, body: str) -> bytes:
    return (f"From: Wang Fang <wang.fang@example.cn>\r\nTo: help@mailco.test\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{message_id}>\r\n"
            f"Date: Tue, 4 Jun 2024 10:00:00 +0800\r\n\r\n{body}\r\n").encode()


def seen(dovecot: DovecotServer, folder: str = "INBOX") -> list[bool]:
    with imap(dovecot) as client:
        client.select(folder, readonly=True)
        _, data = client.uid("FETCH", "1:*", "(FLAGS)")
        return [b"\\Seen" in item for item in data if isinstance(item, bytes)]


def test_an_imap_mailbox_is_polled_into_its_tenant_and_marked_seen_once_stored(
        system: MailSystem, mail_tenant: Callable[..., MailTenant],
        dovecot: DovecotServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    acme = mail_tenant("help@mailco.test")
    other = mail_tenant("help@other.test")
    with imap(dovecot) as client:
        for raw in (mail("imap-1@example.cn", "Gas smell", "It smells of gas in the hall."),
                    mail("imap-2@example.cn", "Re: Gas smell", "It is gone now.")):
            assert client.append("INBOX", None, None, raw)[0] == "OK"
        # A folder configured for a mailbox no tenant declares.
        assert client.create("Unclaimed")[0] == "OK"
        assert client.append("Unclaimed", None, None,
                             mail("imap-3@example.cn", "lost", "for nobody"))[0] == "OK"
    assert seen(dovecot) == [False, False]

    account = {"url": f"imap://{dovecot.username}:{dovecot.password}@127.0.0.1:{dovecot.port}"
                      "/INBOX", "address": "help@mailco.test"}
    unclaimed = {"url": account["url"].replace("/INBOX", "/Unclaimed"),
                 "address": "nobody@mailco.test"}
    poller = Platform(system.platform.settings.with_overrides(**{
        "smtp.enabled": False, "email.relay_url": "", "email.imap_interval": 1,
        "email.imap_accounts": json.dumps([account, unclaimed])}), engine=system.platform.engine)
    # One job queue and bus for the test: the rules of what it stores run as usual.
    poller.__dict__.update(jobs=system.platform.jobs, bus=system.platform.bus)
    host = RuntimeHost(poller, services=["kefu.platform.messaging.email_host:run_email"])
    system.loop.call(host.start())
    try:
        stored = wait_until(lambda: len(acme.inbound()) == 2 and acme.inbound(),
                            "both mails to be stored")
        wait_until(lambda: seen(dovecot) == [True, True], "the mails to be marked seen")
        wait_until(lambda: any("not delivering UID 1 of Unclaimed" in r.getMessage()
                               for r in caplog.records), "the unclaimed mail to be passed over")
    finally:
        system.loop.call(host.stop())
    assert [m.subject for m in stored] == ["Gas smell", "Re: Gas smell"]
    assert stored[0].recipients == ["help@mailco.test"]
    assert stored[0].external_id == "mid:imap-1@example.cn from:wang.fang@example.cn"
    assert other.inbound() == []  # the mailbox is acme's: nothing reaches the other tenant
    # Refused mail stays unseen, for a person reading the mailbox.
    assert seen(dovecot, "Unclaimed") == [False]
    quiet(system)
