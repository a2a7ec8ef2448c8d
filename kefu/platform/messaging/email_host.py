"""The email channel's runtime service: kefu's SMTP listener, the IMAP pollers and the relay
sender, in one runtime node.

``run_email`` (in ``RUNTIME_SERVICES``) starts, from the settings:

- with ``smtp.enabled``: an :class:`~kefu.channels.email.smtp_listener.SmtpListener` on
  ``smtp.bind``:``smtp.port`` (SIZE ``smtp.max_message_bytes``) accepting RCPT only for the
  mailboxes tenants declare (``channel email "help@…"``);
- one :class:`~kefu.channels.email.imap.ImapPoller` per ``email.imap_accounts`` entry, every
  ``email.imap_interval`` seconds;
- with ``email.relay_url``: the :class:`~kefu.platform.messaging.email_sender.EmailSender`,
  registered for the outbound dispatcher (``run_outbound``).

A setting that cannot be used is logged with what is wrong and that part stays off; the rest
runs. When the SMTP port is taken (another runtime node on the same machine holds it) the
listener tries again every ``BIND_RETRY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from kefu.channels.email.imap import ImapPoller, MemoryCursorStore
from kefu.channels.email.smtp_listener import SmtpListener
from kefu.platform.interactions.models import Channel
from kefu.platform.messaging.email_config import (
    EmailSettingError,
    imap_accounts,
    message_id_domain,
    parse_relay_url,
)
from kefu.platform.messaging.email_inbound import DIRECTORY_SECONDS, EmailInbound
from kefu.platform.messaging.email_sender import EmailSender
from kefu.platform.messaging.outbound import register_sender

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

BIND_RETRY_SECONDS = 30.0


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def _serve_smtp(listener: SmtpListener, stopping: asyncio.Event, where: str) -> None:
    while not stopping.is_set():
        try:
            await listener.start()
        except OSError as exc:
            log.warning("cannot listen for mail on %s (%s); trying again in %.0f s",
                        where, exc, BIND_RETRY_SECONDS)
            await _wait(stopping, BIND_RETRY_SECONDS)
            continue
        try:
            await stopping.wait()
        finally:
            await listener.stop()
        return


async def _keep_directory(inbound: EmailInbound, stopping: asyncio.Event) -> None:
    """Re-read the bound mailboxes now and then, so RCPT checks rarely wait on the database."""
    while not stopping.is_set():
        try:
            await asyncio.to_thread(inbound.refresh)
        except Exception as exc:  # an outage: RCPT checks ask the database (and answer 451)
            log.debug("mailbox directory not refreshed: %s", exc)
        await _wait(stopping, DIRECTORY_SECONDS)


def _sender(platform: Platform, domain: str) -> Callable[[], None] | None:
    url = str(platform.settings["email.relay_url"] or "")
    if not url:
        log.info("email.relay_url is empty: outbound email stays queued until it is set")
        return None
    try:
        relay = parse_relay_url(url)
    except EmailSettingError as exc:
        log.error("%s; outbound email stays queued", exc)
        return None
    log.info("outbound email through %s:%s (%s)", relay.host, relay.port, relay.security)
    return register_sender(Channel.EMAIL, EmailSender(platform, relay, domain))


async def run_email(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: receive mail (SMTP listener, IMAP polling) and send it (relay)."""
    settings = platform.settings
    try:
        domain = message_id_domain(settings)
    except EmailSettingError as exc:
        log.error("%s; the email channel is off", exc)
        await stopping.wait()
        return
    inbound = EmailInbound(platform, own_domains={domain})
    unregister = _sender(platform, domain)
    tasks: list[asyncio.Task[None]] = []
    if settings["smtp.enabled"]:
        listener = SmtpListener(inbound, host=settings["smtp.bind"], port=settings["smtp.port"],
                                max_message_bytes=settings["smtp.max_message_bytes"],
                                accept_recipient=inbound.accepts)
        tasks.append(asyncio.create_task(_serve_smtp(
            listener, stopping, f"{settings['smtp.bind']}:{settings['smtp.port']}"), name="smtp"))
        tasks.append(asyncio.create_task(_keep_directory(inbound, stopping),
                                         name="mailbox-directory"))
    try:
        accounts = imap_accounts(str(settings["email.imap_accounts"] or ""))
    except EmailSettingError as exc:
        log.error("%s; no mailbox is polled", exc)
        accounts = []
    for account in accounts:
        # The cursor lives in memory: after a restart the unseen messages are read again,
        # and only those not stored yet are (the \Seen flag is set once stored).
        poller = ImapPoller(account.settings, inbound, MemoryCursorStore())
        log.info("polling IMAP %s:%s/%s for %s every %s s", account.settings.host,
                 account.settings.port, account.settings.mailbox, account.address,
                 settings["email.imap_interval"])
        tasks.append(asyncio.create_task(
            poller.run(stopping, interval=float(settings["email.imap_interval"])),
            name=f"imap-{account.address}"))
    try:
        await stopping.wait()
    finally:
        for task in tasks:
            if not task.done():
                # Each task ends within one poll or at once; give them that, then cancel.
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(task), 5.0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if unregister is not None:
            unregister()


__all__ = ["run_email"]
