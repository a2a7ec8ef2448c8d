"""The email settings an operator writes: relay and IMAP URLs, the Message-ID domain."""

from __future__ import annotations

import json

import pytest

from kefu.channels.email.tls import Security
from kefu.platform.messaging.email_config import (
    EmailSettingError,
    imap_accounts,
    message_id_domain,
    parse_relay_url,
)


def test_relay_urls_choose_tls_by_scheme_and_host() -> None:
    submission = parse_relay_url("smtp://kefu%40acme.example:p%40ss@smtp.acme.example")
    assert (submission.host, submission.port, submission.security) == (
        "smtp.acme.example", 587, Security.STARTTLS)
    assert (submission.username, submission.password) == ("kefu@acme.example", "p@ss")
    implicit = parse_relay_url("smtps://u:p@smtp.acme.example?timeout=5")
    assert (implicit.port, implicit.security, implicit.timeout) == (465, Security.SSL, 5.0)
    local = parse_relay_url("smtp://127.0.0.1:2526")
    assert (local.port, local.security, local.username) == (2526, Security.NONE, None)
    forced = parse_relay_url("smtp://127.0.0.1:2526?starttls=true")
    assert forced.security is Security.STARTTLS


@pytest.mark.parametrize(("url", "problem"), [
    ("http://smtp.acme.example", "the scheme must be smtp:// or smtps://, not 'http'"),
    ("smtp://", "the URL names no host"),
    ("smtp://smtp.acme.example?starttls=maybe", "starttls='maybe' must be true or false"),
    ("smtp://smtp.acme.example:99999", "Port out of range"),
])
def test_bad_relay_urls_are_named(url: str, problem: str) -> None:
    with pytest.raises(EmailSettingError) as error:
        parse_relay_url(url)
    assert str(error.value).startswith("email.relay_url: ")
    assert problem in str(error.value)


def test_imap_accounts_are_read_from_json_and_bad_entries_named() -> None:
    (account,) = imap_accounts(json.dumps([
        {"url": "imaps://help%40acme.example:secret@imap.acme.example/Support",
         "address": "help@acme.example"}]))
    assert account.address == "help@acme.example"
    settings = account.settings
    assert (settings.host, settings.port, settings.security) == (
        "imap.acme.example", 993, Security.SSL)
    assert (settings.username, settings.mailbox, settings.address) == (
        "help@acme.example", "Support", "help@acme.example")
    assert imap_accounts("") == []
    with pytest.raises(EmailSettingError, match=r"email.imap_accounts\[1\] must be"):
        imap_accounts(json.dumps([{"url": "imaps://a:b@h/INBOX", "address": "a@h.example"},
                                  {"url": "imaps://a:b@h/INBOX"}]))
    with pytest.raises(EmailSettingError, match="user:password@"):
        imap_accounts(json.dumps([{"url": "imaps://h/INBOX", "address": "a@h.example"}]))
    with pytest.raises(EmailSettingError, match="is not JSON"):
        imap_accounts("[{")


def test_the_message_id_domain_must_be_a_host_name() -> None:
    assert message_id_domain({"email.message_id_domain": "Mail.Kefu.Example"}) == \
        "mail.kefu.example"
    assert message_id_domain({"email.message_id_domain": ""})  # this machine's name
    with pytest.raises(EmailSettingError, match="is not a host name"):
        message_id_domain({"email.message_id_domain": "not a domain"})
