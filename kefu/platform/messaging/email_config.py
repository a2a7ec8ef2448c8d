"""The email channel's settings, read into the protocol library's settings objects.

``email.relay_url`` and each ``email.imap_accounts`` entry are URLs, so an operator writes one
line per server::

    smtp://user:password@smtp.example.cn:587            STARTTLS (required off this machine)
    smtps://user:password@smtp.example.cn:465           TLS from the first byte
    smtp://127.0.0.1:2526?starttls=false                a relay on this machine, plain
    imaps://user:password@imap.example.cn/INBOX         IMAP over TLS (port 993)
    imap://user:password@127.0.0.1:143/Support?starttls=false

User names and passwords are percent-encoded (``service%40example.cn``). Query parameters:
``starttls`` (true/false), ``timeout`` (seconds). Without ``starttls``, a plain ``smtp://`` or
``imap://`` URL uses STARTTLS unless the host is this machine: mail and passwords never cross a
network unencrypted by default.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from kefu.channels.email.imap import ImapSettings
from kefu.channels.email.relay import RelaySettings
from kefu.channels.email.tls import Security, is_loopback

FALLBACK_MESSAGE_ID_DOMAIN = "kefu.localdomain"
_HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                        r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class EmailSettingError(ValueError):
    """An email setting cannot be used; the message names the setting and the problem."""


@dataclass(frozen=True)
class ImapAccount:
    """One polled mailbox: the server and the tenant address its mail is for."""

    settings: ImapSettings
    address: str


def message_id_domain(settings: Any) -> str:
    """``email.message_id_domain``, or this machine's name when it is a usable host name."""
    configured = str(settings["email.message_id_domain"] or "").strip().lower()
    if configured:
        if not _HOST_NAME.match(configured):
            raise EmailSettingError(
                f"email.message_id_domain {configured!r} is not a host name")
        return configured
    hostname = socket.gethostname().lower()
    return hostname if _HOST_NAME.match(hostname) else FALLBACK_MESSAGE_ID_DOMAIN


def _flag(query: dict[str, list[str]], name: str, where: str) -> bool | None:
    values = query.get(name)
    if not values:
        return None
    value = values[-1].strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise EmailSettingError(f"{where}: {name}={values[-1]!r} must be true or false")


def _timeout(query: dict[str, list[str]], default: float, where: str) -> float:
    values = query.get("timeout")
    if not values:
        return default
    try:
        timeout = float(values[-1])
    except ValueError:
        raise EmailSettingError(f"{where}: timeout={values[-1]!r} is not a number") from None
    if timeout <= 0:
        raise EmailSettingError(f"{where}: timeout must be greater than 0")
    return timeout


def _security(scheme: str, tls_scheme: str, host: str, starttls: bool | None) -> Security:
    if scheme == tls_scheme:
        return Security.SSL
    if starttls is None:
        starttls = not is_loopback(host)
    return Security.STARTTLS if starttls else Security.NONE


def _split_url(url: str, scheme: str, where: str) -> tuple[SplitResult, str, int | None]:
    """``url`` split, checked to be ``scheme://`` or ``schemes://`` with a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {scheme, scheme + "s"}:
        raise EmailSettingError(f"{where}: the scheme must be {scheme}:// or {scheme}s://, "
                                f"not {parts.scheme or 'missing'!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise EmailSettingError(f"{where}: {exc}") from None
    if not host:
        raise EmailSettingError(f"{where}: the URL names no host")
    return parts, host, port


def parse_relay_url(url: str, *, where: str = "email.relay_url") -> RelaySettings:
    """``smtp[s]://[user[:password]@]host[:port][?starttls=…&timeout=…]`` → RelaySettings.

    Raises:
        EmailSettingError: naming ``where`` and what is wrong.
    """
    parts, host, port = _split_url(url, "smtp", where)
    query = parse_qs(parts.query)
    security = _security(parts.scheme, "smtps", host, _flag(query, "starttls", where))
    default_port = 465 if security is Security.SSL else 587
    return RelaySettings(
        host=host, port=port or default_port, security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=_timeout(query, 30.0, where))


def parse_imap_url(url: str, *, address: str | None, where: str) -> ImapSettings:
    """``imap[s]://user:password@host[:port][/folder][?starttls=…&timeout=…]`` → ImapSettings.

    Raises:
        EmailSettingError: naming ``where`` and what is wrong.
    """
    parts, host, port = _split_url(url, "imap", where)
    if not parts.username or parts.password is None:
        raise EmailSettingError(f"{where}: the URL must carry the login as user:password@")
    query = parse_qs(parts.query)
    security = _security(parts.scheme, "imaps", host, _flag(query, "starttls", where))
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    return ImapSettings(
        host=host, port=port or (993 if security is Security.SSL else 143),
        username=unquote(parts.username), password=unquote(parts.password),
        security=security, mailbox=folder, address=address,
        timeout=_timeout(query, 30.0, where))


def imap_accounts(raw: str) -> list[ImapAccount]:
    """Every entry of ``email.imap_accounts`` (a JSON list of ``{"url", "address"}``).

    Raises:
        EmailSettingError: the JSON or an entry is unusable (the entry's index is named).
    """
    if not raw.strip():
        return []
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EmailSettingError(f"email.imap_accounts is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise EmailSettingError("email.imap_accounts must be a JSON list of "
                                '{"url": ..., "address": ...} objects')
    accounts = []
    for index, entry in enumerate(entries):
        where = f"email.imap_accounts[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str) \
                or not isinstance(entry.get("address"), str) or "@" not in entry["address"]:
            raise EmailSettingError(f'{where} must be {{"url": "imaps://…", "address": '
                                    '"help@…"}} with the tenant\'s mailbox address')
        address = entry["address"].strip()
        accounts.append(ImapAccount(parse_imap_url(entry["url"], address=address, where=where),
                                    address))
    return accounts


__all__ = ["EmailSettingError", "ImapAccount", "imap_accounts", "message_id_domain",
           "parse_imap_url", "parse_relay_url"]
