"""The SMS channel in kefu: runs the SMPP client or the Kannel sender for every tenant.

One runtime service, :func:`run_sms`, chooses the gateway from the settings:

- ``sms.smpp_url`` set: one :class:`~kefu.channels.sms.smpp.client.SmppClient` bound as a
  transceiver to the SMSC. Inbound messages (long ones already reassembled) go to
  :meth:`SmsReceiver.receive`, which finds the tenant by the number they were sent to and
  hands them to :class:`~kefu.platform.messaging.intake.Intake`; delivery receipts go to
  :meth:`SmsReceiver.apply_receipt`; outbound messages leave through :class:`SmppSender`.
- else ``sms.kannel_sendsms_url`` set: outbound messages leave through :class:`KannelSender`
  (Kannel's sendsms); inbound messages and delivery reports arrive on kefu's HTTP callbacks
  (:mod:`kefu.platform.messaging.sms_callbacks`), which use the same :class:`SmsReceiver`.
- neither: no SMS (outbound SMS stay queued until a gateway is configured).

A message sent to a number no tenant declares is refused: the SMSC gets ``ESME_RX_P_APPN``
for its deliver_sm (so it stops retrying, and its records show the refusal) and Kannel gets
404; both are logged with the number. Delivery receipts that arrive before the dispatcher has
recorded the ids of the message they report on (fast SMSCs answer within milliseconds) wait in
memory and are applied once the message is marked sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import time
import urllib.parse
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kefu.channels.sms.encoding import SmsEncodingError
from kefu.channels.sms.kannel import KannelError, KannelGateway, KannelSendError, KannelSettings
from kefu.channels.sms.messages import DeliveryReceipt, DeliveryStatus, InboundSms
from kefu.channels.sms.smpp.client import (
    DeliveryRefused,
    SmppClient,
    SmppConnectionLost,
    SmppError,
    SmppNotBound,
    SmppSettings,
    SmppSubmitError,
    SmppTimeout,
)
from kefu.channels.sms.smpp.pdu import CommandStatus
from kefu.platform.interactions.models import (
    Channel,
    Direction,
    Interaction,
    Message,
    MessageStatus,
)
from kefu.platform.interactions.services import DuplicateMessage
from kefu.platform.messaging.intake import Inbound, Intake, Received, UnknownAddress
from kefu.platform.messaging.outbound import (
    Delivered,
    DeliveryFailed,
    Outbox,
    register_sender,
)
from kefu.platform.runtime_host import cancel_tasks
from kefu.platform.tenancy.scope import cross_tenant

if TYPE_CHECKING:
    from kefu.platform.context import Platform

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Kannel's route for delivery reports (see :mod:`.sms_callbacks`).
KANNEL_DLR_PATH = "/channels/kannel/dlr"
KANNEL_MO_PATH = "/channels/kannel/mo"
#: How long a receipt for a message kefu has not yet recorded as sent waits, and how many wait.
RECEIPT_WAIT_SECONDS = 600.0
RECEIPT_RETRY_SECONDS = 5.0
MAX_WAITING_RECEIPTS = 10_000
#: Every tenant's message status events (``outbound.status_topic``).
STATUS_TOPICS = "tenant.*.message.status"

#: What a gateway's report means for the message row. Accepted and pending say no more than
#: "sent" (which the dispatcher already recorded); unknown changes nothing.
RECEIPT_STATUS = {
    DeliveryStatus.ACCEPTED: MessageStatus.SENT,
    DeliveryStatus.PENDING: MessageStatus.SENT,
    DeliveryStatus.DELIVERED: MessageStatus.DELIVERED,
    DeliveryStatus.FAILED: MessageStatus.FAILED,
}

#: submit_sm answers after which the same message may well go through later.
_TRANSIENT_SUBMIT = {CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL,
                     CommandStatus.ESME_RSYSERR, CommandStatus.ESME_RSUBMITFAIL}


# --- settings --------------------------------------------------------------------------------


class SmsSettingsError(ValueError):
    """An SMS setting cannot be used; the message names the setting and the problem."""


_SMPP_FIELDS = {f.name: f for f in dataclasses.fields(SmppSettings)}
_SMPP_URL_PARAMS = sorted(set(_SMPP_FIELDS) - {"host", "port", "system_id", "password"})


def parse_smpp_url(url: str) -> SmppSettings:
    """``smpp://system_id:password@host:port?system_type=…&default_sender=…`` as settings.

    Every :class:`SmppSettings` field other than the four in the URL's authority may be given
    as a query parameter (``window=20``, ``enquire_link_interval=15``,
    ``registered_delivery=false``). Port 2775 when none is given.

    Raises:
        SmsSettingsError: naming what is wrong in ``sms.smpp_url``.
    """
    parts = urllib.parse.urlsplit(url.strip())
    where = "sms.smpp_url"
    if parts.scheme != "smpp":
        raise SmsSettingsError(f"{where} must start with smpp://, got {parts.scheme or 'none'}")
    try:
        port = parts.port or 2775
    except ValueError as exc:
        raise SmsSettingsError(f"{where}: {exc}") from None
    if not parts.hostname or parts.username is None:
        raise SmsSettingsError(f"{where} needs system_id and host: "
                               "smpp://system_id:password@host:port")
    values: dict[str, Any] = {
        "host": parts.hostname, "port": port,
        "system_id": urllib.parse.unquote(parts.username),
        "password": urllib.parse.unquote(parts.password or ""),
    }
    for name, raw in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        field = _SMPP_FIELDS.get(name)
        if field is None or name in values:
            raise SmsSettingsError(f"{where}: unknown parameter {name!r}; known: "
                                   + ", ".join(_SMPP_URL_PARAMS))
        values[name] = _convert(where, name, raw, field.type)
    try:
        return SmppSettings(**values)
    except ValueError as exc:
        raise SmsSettingsError(f"{where}: {exc}") from None


def _convert(where: str, name: str, raw: str, kind: Any) -> Any:
    kind = str(kind)
    try:
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes", "on")
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise SmsSettingsError(f"{where}: parameter {name!r} must be a {kind}, "
                               f"got {raw!r}") from None
    return raw


def parse_kannel_url(url: str, *, callback_url: str, secret: str) -> KannelSettings:
    """``sms.kannel_sendsms_url`` (with ``username``, ``password`` and optionally ``from``
    and ``smsc`` in its query) as settings whose delivery reports come to ``callback_url``.

    Raises:
        SmsSettingsError: naming what is wrong.
    """
    where = "sms.kannel_sendsms_url"
    parts = urllib.parse.urlsplit(url.strip())
    params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    known = {"username", "password", "from", "smsc"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise SmsSettingsError(f"{where}: unknown parameter {unknown[0]!r}; known: "
                               + ", ".join(sorted(known)))
    if not params.get("username"):
        raise SmsSettingsError(f"{where} needs username= and password= of a Kannel "
                               "sendsms-user")
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    try:
        return KannelSettings(
            sendsms_url=base, username=params["username"], password=params.get("password", ""),
            dlr_url=callback_url.rstrip("/") + KANNEL_DLR_PATH if secret else None,
            default_sender=params.get("from", ""), smsc_id=params.get("smsc") or None,
            callback_secret=secret or None)
    except ValueError as exc:
        raise SmsSettingsError(f"{where}: {exc}") from None


def kannel_callback_url(platform: Platform) -> str:
    """Where Kannel reaches kefu: ``sms.kannel_callback_url``, else this node's HTTP port."""
    configured = str(platform.settings["sms.kannel_callback_url"]).strip()
    if configured:
        return configured.rstrip("/")
    host = str(platform.settings["http.bind"])
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - reading the setting, not binding
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{platform.settings['http.port']}"


# --- inbound ---------------------------------------------------------------------------------


def _number_forms(number: str) -> list[str]:
    """A number as the gateway wrote it, and with/without the ``+`` that SMSCs drop or add
    depending on the type of number they chose."""
    number = number.strip()
    forms = [number]
    if number.startswith("+"):
        forms.append(number[1:])
    elif number.isdigit():
        forms.append("+" + number)
    return forms


def inbound_external_id(sms: InboundSms) -> str:
    """What makes a redelivery of ``sms`` recognisable.

    Kannel names each MO; an SMPP deliver_sm carries no id, so a hash of sender, recipient,
    parts, text and the second it arrived stands in. It recognises a deliver_sm the SMSC
    sends again at once (a lost answer) and never merges two messages a customer sent apart
    ("1", then "1" again); a redelivery minutes after a crash is stored twice.
    """
    if sms.gateway_message_id:
        return f"{sms.gateway}:{sms.gateway_message_id}"[:200]
    key = "\x1f".join((sms.sender, sms.recipient, str(sms.parts), sms.text,
                       str(int(sms.received_at.timestamp()))))
    return f"{sms.gateway}:{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}"


@dataclass
class _Waiting:
    receipt: DeliveryReceipt
    until: float


class SmsReceiver:
    """Turns what a gateway hands over into stored messages and message statuses.

    Synchronous (database work); the SMPP service calls it with ``asyncio.to_thread``.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.intake = Intake(platform)
        self.waiting: list[_Waiting] = []

    def tenant_for(self, number: str) -> tuple[uuid.UUID, str] | None:
        """The tenant whose ``channel sms`` is ``number`` (with or without ``+``), and the
        number as that tenant declared it."""
        for form in _number_forms(number):
            tenant = self.intake.tenant_for(Channel.SMS, form)
            if tenant is not None:
                return tenant, form
        return None

    def receive(self, sms: InboundSms) -> Received | None:
        """Store one inbound SMS for the tenant owning its recipient number.

        Returns None for a redelivery stored before under another conversation.

        Raises:
            UnknownAddress: no tenant declares the number.
        """
        found = self.tenant_for(sms.recipient)
        if found is None:
            raise UnknownAddress(f"no tenant declares sms {sms.recipient!r}")
        tenant_id, number = found
        headers: dict[str, Any] = {"gateway": sms.gateway, "parts": sms.parts}
        if sms.missing_parts:
            headers["missing_parts"] = list(sms.missing_parts)
        if sms.smsc_id:
            headers["smsc"] = sms.smsc_id
        try:
            received = self.intake.receive(Inbound(
                channel=Channel.SMS, to_address=number, from_address=sms.sender, text=sms.text,
                external_id=inbound_external_id(sms), headers=headers, tenant_id=tenant_id,
                received_at=sms.received_at))
        except DuplicateMessage:
            log.info("SMS from %s to %s was stored before; not again", sms.sender, number)
            return None
        log.info("SMS from %s to %s stored as message %s (tenant %s, %d part(s))",
                 sms.sender, number, received.message_id, tenant_id, sms.parts)
        return received

    # ------------------------------------------------------------------ receipts
    def apply_receipt(self, receipt: DeliveryReceipt) -> bool:
        """Mark the message the receipt names. False when no sent SMS has that id (yet)."""
        status = RECEIPT_STATUS.get(receipt.status)
        if status is None:
            log.info("SMS receipt for %s says %s (%s); nothing to record", receipt.message_id,
                     receipt.status.value, receipt.state)
            return True
        tenant = self._tenant_of_message(receipt)
        if tenant is None:
            return False
        error = None
        if status == MessageStatus.FAILED:
            error = f"{receipt.state}" + (f" (error {receipt.error})" if receipt.error else "")
        with self.platform.session(tenant) as db:
            message = Outbox(self.platform, db).mark(Channel.SMS, receipt.message_id, status,
                                                     error=error, at=receipt.done_at)
            db.commit()
        return message is not None

    def _tenant_of_message(self, receipt: DeliveryReceipt) -> uuid.UUID | None:
        """The tenant that sent the message the receipt names. SMSC ids are the SMSC's, not
        a tenant's, so this looks across tenants; should two tenants hold the id (an SMSC
        that restarted its numbering), the one owning the receipt's sender number wins."""
        with self.platform.session() as db, cross_tenant(db):
            tenants = list(db.scalars(sa.select(Message.tenant_id).where(
                Message.channel == Channel.SMS, Message.direction == Direction.OUTBOUND,
                _external_id_matches(receipt.message_id))
                .order_by(Message.created_at.desc()).limit(5)))
        if not tenants:
            return None
        owner = self.tenant_for(receipt.sender) if receipt.sender else None
        if owner is not None and owner[0] in tenants:
            return owner[0]
        return tenants[0]

    def hold(self, receipt: DeliveryReceipt, now: float) -> None:
        """Keep a receipt for a message not yet recorded as sent, for a while."""
        if len(self.waiting) >= MAX_WAITING_RECEIPTS:
            dropped = self.waiting.pop(0)
            log.warning("SMS receipt for %s dropped: too many receipts wait for their messages",
                        dropped.receipt.message_id)
        self.waiting.append(_Waiting(receipt, now + RECEIPT_WAIT_SECONDS))

    def retry_waiting(self, now: float) -> int:
        """Apply the receipts whose messages are now recorded; drop the expired ones."""
        waiting, self.waiting = self.waiting, []
        applied = 0
        for item in waiting:
            try:
                done = self.apply_receipt(item.receipt)
            except Exception:
                log.exception("SMS receipt for %s could not be applied", item.receipt.message_id)
                done = False
            if done:
                applied += 1
            elif item.until <= now:
                log.warning("SMS receipt for %s (%s) names no message kefu sent; dropped",
                            item.receipt.message_id, item.receipt.state)
            else:
                self.waiting.append(item)
        return applied


def _external_id_matches(external_id: str) -> Any:
    """``messages.external_id`` is the id, or holds it among comma-joined part ids."""
    escaped = external_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.or_(Message.external_id == external_id,
                  Message.external_id.like(f"%,{escaped}", escape="\\"),
                  Message.external_id.like(f"{escaped},%", escape="\\"),
                  Message.external_id.like(f"%,{escaped},%", escape="\\"))


# --- outbound --------------------------------------------------------------------------------


def _recipient(message: Message) -> str:
    to = next((r for r in (message.recipients or []) if r), None)
    if not to:
        raise DeliveryFailed("the message has no recipient number", permanent=True)
    return str(to)


class _LoopSender:
    """Runs a gateway's coroutine on the SMS service's event loop from a dispatcher thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(self.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise DeliveryFailed(f"the SMS gateway did not answer within {self.timeout:.0f} s; "
                                 "the message may have gone", permanent=False) from None


class SmppSender(_LoopSender):
    """Delivers outbound SMS through the SMPP client (see :class:`Sender`)."""

    def __init__(self, client: SmppClient, loop: asyncio.AbstractEventLoop) -> None:
        settings = client.settings
        super().__init__(loop, settings.response_timeout * (settings.max_parts + 2))
        self.client = client

    def deliver(self, db: Session, message: Message, interaction: Interaction) -> Delivered:
        to = _recipient(message)
        try:
            ids = self.run(self.client.send(to, message.body_text or "",
                                            sender=message.sender or None))
        except SmsEncodingError as exc:
            raise DeliveryFailed(f"the text cannot go as SMS: {exc}", permanent=True) from None
        except SmppNotBound as exc:
            raise DeliveryFailed(f"no SMSC link: {exc}", permanent=False) from None
        except SmppSubmitError as exc:
            if exc.accepted:
                # Some parts went out: sending again would send those twice.
                raise DeliveryFailed(f"{exc} after {len(exc.accepted)} part(s) went out",
                                     permanent=True) from None
            raise DeliveryFailed(str(exc), permanent=exc.status not in _TRANSIENT_SUBMIT) \
                from None
        except (SmppTimeout, SmppConnectionLost) as exc:
            raise DeliveryFailed(f"outcome unknown, trying again: {exc}",
                                 permanent=False) from None
        except SmppError as exc:
            raise DeliveryFailed(str(exc), permanent=False) from None
        except ValueError as exc:
            raise DeliveryFailed(str(exc), permanent=True) from None
        return Delivered(external_id=",".join(ids), headers={"sms_parts": len(ids)})


class KannelSender(_LoopSender):
    """Delivers outbound SMS through Kannel's sendsms (see :class:`Sender`).

    Each message's reference (what Kannel's delivery reports name) is its own id, and the
    dlr-url names its tenant, so a report finds its message even before the dispatcher has
    recorded that it was sent.
    """

    def __init__(self, settings: KannelSettings, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, settings.timeout + 5)
        self.settings = settings

    def gateway(self, tenant_id: uuid.UUID) -> KannelGateway:
        settings = self.settings
        if settings.dlr_url:
            settings = dataclasses.replace(
                settings, dlr_url=f"{settings.dlr_url}?tenant={tenant_id}")
        return KannelGateway(settings)

    def deliver(self, db: Session, message: Message, interaction: Interaction) -> Delivered:
        to = _recipient(message)
        reference = message.id.hex
        gateway = self.gateway(message.tenant_id)
        try:
            [sent] = self.run(gateway.send(to, message.body_text or "",
                                           sender=message.sender or None, reference=reference))
        except SmsEncodingError as exc:
            raise DeliveryFailed(f"the text cannot go as SMS: {exc}", permanent=True) from None
        except KannelSendError as exc:
            # 403: wrong sendsms credentials, which an operator fixes; 5xx: Kannel is busy.
            permanent = 400 <= exc.status < 500 and exc.status != 403
            raise DeliveryFailed(str(exc), permanent=permanent) from None
        except KannelError as exc:
            raise DeliveryFailed(str(exc), permanent=False) from None
        except ValueError as exc:
            raise DeliveryFailed(str(exc), permanent=True) from None
        return Delivered(external_id=sent)


# --- the runtime service ---------------------------------------------------------------------


async def run_sms(platform: Platform, stopping: asyncio.Event) -> None:
    """Runtime service: the SMS gateway the settings name (see the module notes)."""
    smpp_url = str(platform.settings["sms.smpp_url"]).strip()
    kannel_url = str(platform.settings["sms.kannel_sendsms_url"]).strip()
    if smpp_url:
        await SmppService(platform, parse_smpp_url(smpp_url)).run(stopping)
    elif kannel_url:
        settings = parse_kannel_url(kannel_url, callback_url=kannel_callback_url(platform),
                                    secret=str(platform.settings["sms.kannel_secret"]))
        if settings.dlr_url is None:
            log.warning("sms.kannel_secret is empty: Kannel's callbacks are refused, so no "
                        "inbound SMS and no delivery reports")
        unregister = register_sender(Channel.SMS,
                                     KannelSender(settings, asyncio.get_running_loop()))
        log.info("SMS: sending through Kannel at %s",
                 urllib.parse.urlsplit(settings.sendsms_url).netloc)
        try:
            await stopping.wait()
        finally:
            unregister()


class SmppService:
    """The SMPP client of one kefu node, with the receiver and sender around it."""

    def __init__(self, platform: Platform, settings: SmppSettings) -> None:
        self.platform = platform
        self.receiver = SmsReceiver(platform)
        self.client = SmppClient(settings, on_message=self.on_message,
                                 on_receipt=self.on_receipt)

    async def on_message(self, sms: InboundSms) -> None:
        try:
            await asyncio.to_thread(self.receiver.receive, sms)
        except UnknownAddress as exc:
            log.warning("SMS from %s refused: %s", sms.sender, exc)
            raise DeliveryRefused(str(exc)) from None

    async def on_receipt(self, receipt: DeliveryReceipt) -> None:
        if not await asyncio.to_thread(self.receiver.apply_receipt, receipt):
            self.receiver.hold(receipt, time.monotonic())

    async def run(self, stopping: asyncio.Event) -> None:
        unregister = register_sender(Channel.SMS,
                                     SmppSender(self.client, asyncio.get_running_loop()))
        subscription = await self.platform.bus.subscribe(patterns=[STATUS_TOPICS])
        tasks = [asyncio.create_task(self._retry_on_status(subscription)),
                 asyncio.create_task(self._retry_periodically(stopping))]
        await self.client.start()
        log.info("SMS: SMPP client for %s started", self.client.peer)
        try:
            await stopping.wait()
        finally:
            unregister()
            await self.client.stop()
            await cancel_tasks(tasks)
            await subscription.close()

    async def _retry_on_status(self, subscription: Any) -> None:
        # A message just marked sent may be the one a waiting receipt names.
        async for event in subscription:
            data = event.data if isinstance(event.data, dict) else {}
            if self.receiver.waiting and data.get("channel") == Channel.SMS.value:
                await asyncio.to_thread(self.receiver.retry_waiting, time.monotonic())

    async def _retry_periodically(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), RECEIPT_RETRY_SECONDS)
            if self.receiver.waiting:
                await asyncio.to_thread(self.receiver.retry_waiting, time.monotonic())


__all__ = ["KANNEL_DLR_PATH", "KANNEL_MO_PATH", "KannelSender", "SmppSender", "SmppService",
           "SmsReceiver", "SmsSettingsError", "inbound_external_id", "kannel_callback_url",
           "parse_kannel_url", "parse_smpp_url", "run_sms"]
