"""An asyncio SMPP 3.4 ESME: one transceiver bind to an SMSC, kept up for as long as it runs.

The client connects, binds as a transceiver and then serves: it submits outbound messages
(splitting long ones), answers the SMSC's enquire_link and deliver_sm, and sends its own
enquire_link so a dead link is noticed. When the link drops it reconnects with exponential
backoff and jitter until :meth:`SmppClient.stop`.

Inbound messages and delivery receipts are handed to the host's ``on_message`` and
``on_receipt`` coroutines, and the deliver_sm is acknowledged only after they return: the host
stores first, then the SMSC forgets. If the host raises, the answer is ``ESME_RX_T_APPN`` and the
SMSC delivers again later; a message kefu can never read (bad UDH, unknown coding) gets
``ESME_RX_P_APPN`` so the SMSC stops retrying, and the reason is logged. Delivery is
therefore at least once: after a crash between storing and answering, the SMSC resends.

The protocol itself lives in :mod:`.pdu` and :mod:`..encoding`; this module is only the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

from kefu.channels.sms.encoding import (
    Concatenation,
    Reassembler,
    SmsEncodingError,
    decode_text,
    split_text,
    split_udh,
)
from kefu.channels.sms.messages import DeliveryReceipt, DeliveryStatus, InboundSms
from kefu.channels.sms.smpp.pdu import (
    DEFAULT_MAX_PDU_LENGTH,
    ESM_UDH_INDICATOR,
    MAX_SEQUENCE,
    REGISTERED_DELIVERY_FINAL,
    RESPONSE_BIT,
    Address,
    BindTransceiver,
    BindTransceiverResp,
    Body,
    CommandId,
    CommandStatus,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    MessageState,
    Pdu,
    PduError,
    PduStream,
    SubmitSm,
    SubmitSmResp,
    Tag,
    Unbind,
    UnbindResp,
    describe_command,
    describe_status,
    encode,
    parse_receipt_text,
)

log = logging.getLogger(__name__)

MessageHandler = Callable[[InboundSms], Awaitable[None]]
ReceiptHandler = Callable[[DeliveryReceipt], Awaitable[None]]


class SmppError(Exception):
    """Something went wrong talking SMPP."""


class SmppNotBound(SmppError):
    """No bound link to the SMSC right now (it is connecting or reconnecting)."""


class SmppConnectionLost(SmppError):
    """The link dropped while a request was waiting for its response.

    A submit_sm that fails this way may or may not have reached the SMSC.
    """


class SmppTimeout(SmppError, TimeoutError):
    """The SMSC did not answer a request in time."""


class SmppRequestError(SmppError):
    """The SMSC answered a request with an error status (or a generic_nack)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SmppBindError(SmppRequestError):
    """The SMSC refused the bind (wrong system_id or password, already bound…)."""


class SmppSubmitError(SmppRequestError):
    """The SMSC refused a part of a message; ``accepted`` holds the ids of parts it took."""

    def __init__(self, message: str, status: int, accepted: list[str]) -> None:
        super().__init__(message, status)
        self.accepted = accepted


class _PermanentDeliveryError(Exception):
    """An inbound PDU kefu will never be able to read: answer ESME_RX_P_APPN."""


class DeliveryRefused(SmppError):
    """Raised by the host's ``on_message``/``on_receipt`` for a message it will never take
    (no tenant has the number it was sent to): the deliver_sm is answered ``ESME_RX_P_APPN``
    so the SMSC stops retrying, instead of ``ESME_RX_T_APPN`` and redelivery forever."""


@dataclass(frozen=True, slots=True)
class SmppSettings:
    """How to reach and talk to one SMSC account. Times are in seconds."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    default_sender: str = ""  # source address when send() is given none
    window: int = 10  # requests in flight before send() waits
    connect_timeout: float = 10.0
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    reconnect_initial_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    reconnect_jitter: float = 0.25  # up to this fraction of each delay is randomly taken off
    registered_delivery: bool = True  # ask for delivery receipts
    max_parts: int = 10  # longest outbound message, in parts (each part is billed)
    reassembly_timeout: float = 300.0  # give up waiting for missing inbound parts
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH
    deliver_queue: int = 100  # inbound deliver_sm waiting for the host before reading pauses

    def __post_init__(self) -> None:
        problems = []
        if not all(value.isascii() for value in (self.system_id, self.password,
                                                  self.system_type)):
            problems.append("system_id, password and system_type must be ASCII")
        if not 1 <= len(self.system_id) <= 15:
            problems.append("system_id must be 1-15 characters")
        if len(self.password) > 8:
            problems.append("password must be at most 8 characters (SMPP 3.4)")
        if len(self.system_type) > 12:
            problems.append("system_type must be at most 12 characters")
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port} is not a TCP port")
        if self.window < 1:
            problems.append("window must be at least 1")
        if not 1 <= self.max_parts <= 255:
            problems.append("max_parts must be 1-255")
        if not 0 <= self.reconnect_jitter < 1:
            problems.append("reconnect_jitter must be in [0, 1)")
        for name in ("connect_timeout", "response_timeout", "enquire_link_interval",
                     "reconnect_initial_delay", "reconnect_max_delay", "reassembly_timeout"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive")
        if problems:
            raise ValueError("invalid SMPP settings: " + "; ".join(problems))

    def reconnect_delay(self, failures: int, rng: random.Random) -> float:
        """Exponential backoff capped at ``reconnect_max_delay``, with jitter so that many
        clients cut off together do not all come back at the same instant."""
        base = min(self.reconnect_max_delay, self.reconnect_initial_delay * 2 ** min(failures, 30))
        return base * (1 - self.reconnect_jitter * rng.random())


def parse_address(number: str) -> Address:
    """An SMPP address for a phone number or sender name.

    ``+8613800138000`` is international (TON 1, NPI 1, sent without the ``+``); other digits
    are sent as they are with TON unknown (short codes such as ``10690756``); anything else is
    an alphanumeric sender name (TON 5).
    """
    number = number.strip()
    digits = re.sub(r"[\s().-]", "", number)  # "+86 138-0013-8000" is still a number
    if digits.startswith("+") and digits[1:].isdigit():
        return Address(digits[1:], ton=1, npi=1)
    if digits.isdigit():
        return Address(digits, ton=0, npi=1)
    if not number:
        return Address("")  # no sender: the SMSC fills in the account's default
    return Address(number, ton=5, npi=0)


def format_address(address: Address) -> str:
    """The inverse of :func:`parse_address`: international numbers get their ``+`` back."""
    if address.ton == 1 and address.addr.isdigit():
        return "+" + address.addr
    return address.addr


_RECEIPT_STATUS = {
    "DELIVRD": DeliveryStatus.DELIVERED, "ACCEPTD": DeliveryStatus.ACCEPTED,
    "ENROUTE": DeliveryStatus.PENDING, "EXPIRED": DeliveryStatus.FAILED,
    "DELETED": DeliveryStatus.FAILED, "UNDELIV": DeliveryStatus.FAILED,
    "REJECTD": DeliveryStatus.FAILED, "UNKNOWN": DeliveryStatus.UNKNOWN,
}
_STATE_STATUS = {
    MessageState.DELIVERED: DeliveryStatus.DELIVERED,
    MessageState.ACCEPTED: DeliveryStatus.ACCEPTED,
    MessageState.ENROUTE: DeliveryStatus.PENDING,
    MessageState.EXPIRED: DeliveryStatus.FAILED,
    MessageState.DELETED: DeliveryStatus.FAILED,
    MessageState.UNDELIVERABLE: DeliveryStatus.FAILED,
    MessageState.REJECTED: DeliveryStatus.FAILED,
    MessageState.UNKNOWN: DeliveryStatus.UNKNOWN,
}


def receipt_from_deliver_sm(pdu: DeliverSm, received_at: datetime) -> DeliveryReceipt:
    """Read a delivery receipt: the ``receipted_message_id`` and ``message_state`` TLVs when
    the SMSC sends them (they are exact), else the receipt text.

    Raises:
        ValueError: neither the TLVs nor the text say which message and what happened.
    """
    tlv_id = pdu.tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
    tlv_state = pdu.tlvs.get(Tag.MESSAGE_STATE)
    # Receipt texts are ASCII whatever data_coding says, except UCS-2 ones.
    raw = pdu.message
    body = raw.decode("utf-16-be", "replace") if pdu.data_coding == 0x08 else raw.decode("latin-1")
    try:
        parsed = parse_receipt_text(body)
    except ValueError:
        if tlv_id is None or tlv_state is None:
            raise
        parsed = None
    message_id = tlv_id.rstrip(b"\x00").decode("latin-1") if tlv_id else ""
    if not message_id and parsed is not None:
        message_id = parsed.message_id
    status = DeliveryStatus.UNKNOWN
    state = parsed.stat if parsed is not None else ""
    if tlv_state:
        try:
            message_state = MessageState(tlv_state[0])
            status, state = _STATE_STATUS[message_state], state or message_state.name
        except ValueError:
            pass
    if status is DeliveryStatus.UNKNOWN and parsed is not None:
        status = _RECEIPT_STATUS.get(parsed.stat, DeliveryStatus.UNKNOWN)
    error = parsed.err if parsed is not None else ""
    if error.strip("0") == "":
        error = ""
    return DeliveryReceipt(
        message_id=message_id, status=status, state=state, received_at=received_at,
        gateway="smpp",
        # A receipt travels back: its source is the phone the message went to.
        recipient=format_address(pdu.source), sender=format_address(pdu.destination),
        error=error, done_at=parsed.done_at() if parsed is not None else None,
    )


class _Session:
    """One TCP connection: framing, the pending-request table and the write side."""

    def __init__(self, client: SmppClient, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.client = client
        self.reader = reader
        self.writer = writer
        self.stream = PduStream(client.settings.max_pdu_length)
        self.pending: dict[int, tuple[CommandId, asyncio.Future[Pdu]]] = {}
        self.window = asyncio.Semaphore(client.settings.window)
        self.write_lock = asyncio.Lock()
        self.deliveries: asyncio.Queue[Pdu] = asyncio.Queue(client.settings.deliver_queue)
        self.bound = False
        self.closed_reason = ""

    async def write(self, pdu: Pdu) -> None:
        data = encode(pdu)
        async with self.write_lock:
            try:
                self.writer.write(data)
                await self.writer.drain()
            except (ConnectionError, OSError) as exc:
                raise SmppConnectionLost(
                    f"writing {describe_command(pdu.command_id)} failed: {exc}") from exc

    async def request(self, body: Body, *, timeout: float | None = None) -> Pdu:
        """Send a request and wait for its response (or a generic_nack with its sequence)."""
        timeout = timeout if timeout is not None else self.client.settings.response_timeout
        async with self.window:
            if self.closed_reason:
                raise SmppConnectionLost(f"link to {self.client.peer} lost: {self.closed_reason}")
            sequence = self.client.next_sequence()
            future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
            self.pending[sequence] = (body.command_id, future)
            try:
                await self.write(Pdu(body, sequence))
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                raise SmppTimeout(
                    f"no answer to {describe_command(body.command_id)} (sequence {sequence}) "
                    f"from {self.client.peer} within {timeout:g} s"
                ) from None
            finally:
                self.pending.pop(sequence, None)

    def resolve(self, pdu: Pdu) -> None:
        entry = self.pending.get(pdu.sequence)
        expected = (entry[0] | RESPONSE_BIT) if entry else None
        if entry is None or pdu.command_id not in (expected, CommandId.GENERIC_NACK):
            log.warning("SMPP %s: ignoring %s with sequence %d that answers no request of ours",
                        self.client.peer, describe_command(pdu.command_id), pdu.sequence)
            return
        if not entry[1].done():
            entry[1].set_result(pdu)

    def fail_pending(self, error: BaseException) -> None:
        for _command, future in self.pending.values():
            if not future.done():
                future.set_exception(error)

    def close(self, reason: str) -> None:
        """Close the connection; requests still waiting fail now rather than at their timeout."""
        if not self.closed_reason:
            self.closed_reason = reason
        self.fail_pending(SmppConnectionLost(f"link to {self.client.peer} lost: {reason}"))
        self.writer.close()


class SmppClient:
    """An SMPP 3.4 transceiver session that keeps itself bound.

    Usage::

        client = SmppClient(settings, on_message=store_inbound, on_receipt=store_receipt)
        await client.start()
        ids = await client.send("+8613800138000", "您的燃气报修已受理", sender="10690756")
        ...
        await client.stop()

    or ``async with SmppClient(...) as client:``.
    """

    def __init__(self, settings: SmppSettings, *, on_message: MessageHandler,
                 on_receipt: ReceiptHandler, rng: random.Random | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.on_message = on_message
        self.on_receipt = on_receipt
        self.rng = rng or random.Random()  # noqa: S311 - jitter and references, not secrets
        self.clock = clock
        self.reassembler = Reassembler(timeout=settings.reassembly_timeout)
        self.binds = 0  # how many times the client has bound (1 + reconnects)
        self._sequence = 0
        self._reference = self.rng.randrange(256)
        self._session: _Session | None = None
        self._bound_event = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._unstored: list[InboundSms] = []  # given-up partial messages the host refused

    @property
    def peer(self) -> str:
        return f"{self.settings.host}:{self.settings.port} as {self.settings.system_id!r}"

    @property
    def bound(self) -> bool:
        return self._session is not None and self._session.bound

    def next_sequence(self) -> int:
        self._sequence = self._sequence % MAX_SEQUENCE + 1
        return self._sequence

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in the background; :meth:`wait_bound` waits for the bind."""
        if self._runner is None:
            self._stopping.clear()
            self._runner = asyncio.create_task(self._run(), name=f"smpp {self.peer}")

    async def wait_bound(self, timeout: float | None = None) -> None:
        """Wait until the link is bound.

        Raises:
            TimeoutError: not bound within ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            await self._bound_event.wait()

    async def stop(self) -> None:
        """Unbind politely, close the link and stop reconnecting."""
        self._stopping.set()
        session = self._session
        if session is not None and session.bound:
            with contextlib.suppress(SmppError, OSError):
                await session.request(Unbind())
        if session is not None:
            session.close("stopped")
        runner, self._runner = self._runner, None
        if runner is not None:
            # A connect in progress would only end at connect_timeout: do not wait that long.
            try:
                async with asyncio.timeout(self.settings.response_timeout):
                    await asyncio.shield(runner)
            except TimeoutError:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner

    async def __aenter__(self) -> SmppClient:
        await self.start()
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.stop()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            was_bound = False
            try:
                was_bound = await self._connect_and_serve()
            except SmppBindError as exc:
                log.error("SMPP %s: bind refused: %s", self.peer, exc)
            except (SmppError, OSError, TimeoutError) as exc:
                log.warning("SMPP %s: link down: %s", self.peer, exc or type(exc).__name__)
            except Exception:  # a bug must not end the channel: log it and try again
                log.exception("SMPP %s: unexpected error; reconnecting", self.peer)
            if self._stopping.is_set():
                break
            failures = 0 if was_bound else failures + 1
            delay = self.settings.reconnect_delay(max(failures - 1, 0), self.rng)
            log.info("SMPP %s: reconnecting in %.2f s", self.peer, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()

    async def _connect_and_serve(self) -> bool:
        """One connection from connect to close; returns whether it got bound.

        Errors before the bind propagate (they count towards the backoff); once bound, the
        reason the link ended is logged and the next connection starts from the first delay.
        """
        async with asyncio.timeout(self.settings.connect_timeout):
            reader, writer = await asyncio.open_connection(self.settings.host, self.settings.port)
        session = _Session(self, reader, writer)
        self._session = session
        tasks = [asyncio.create_task(self._read(session), name="smpp read")]
        try:
            response = await session.request(BindTransceiver(
                self.settings.system_id, self.settings.password, self.settings.system_type))
            if not response.ok:
                raise SmppBindError(f"bind_transceiver answered {describe_status(response.status)}",
                                    response.status)
            body = response.body
            peer_id = body.system_id if isinstance(body, BindTransceiverResp) else ""
            session.bound = True
            self.binds += 1
            self._bound_event.set()
            log.info("SMPP %s: bound to SMSC %r", self.peer, peer_id)
            tasks.append(asyncio.create_task(self._keepalive(session), name="smpp keepalive"))
            tasks.append(asyncio.create_task(self._deliver_worker(session), name="smpp deliver"))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = task.exception()
                if error is not None and not self._stopping.is_set():
                    log.warning("SMPP %s: link down: %s", self.peer, error)
            return True
        finally:
            session.bound = False
            self._bound_event.clear()
            session.close(session.closed_reason or "connection closed")  # fails what waits
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(OSError):
                await session.writer.wait_closed()
            if self._session is session:
                self._session = None

    # --- reading --------------------------------------------------------------------------

    async def _read(self, session: _Session) -> None:
        while True:
            try:
                data = await session.reader.read(65_536)
            except (ConnectionError, OSError) as exc:
                session.close(f"read failed: {exc}")
                raise SmppConnectionLost(f"read failed: {exc}") from exc
            if not data:
                reason = session.closed_reason or "the SMSC closed the connection"
                session.close(reason)
                raise SmppConnectionLost(reason)
            for item in session.stream.feed(data):
                if isinstance(item, PduError):
                    await self._on_bad_pdu(session, item)
                else:
                    await self._dispatch(session, item)

    async def _on_bad_pdu(self, session: _Session, error: PduError) -> None:
        log.warning("SMPP %s: bad PDU from the SMSC: %s", self.peer, error.reason)
        response = error.response()
        if response is not None:
            await session.write(response)
        if error.is_response and error.sequence in session.pending:
            command, future = session.pending[error.sequence]
            if not future.done():
                future.set_exception(SmppRequestError(
                    f"unreadable answer to {describe_command(command)}: {error.reason}",
                    error.status))
        if error.fatal:
            session.close(f"unrecoverable framing error: {error.reason}")
            raise SmppConnectionLost(error.reason)

    async def _dispatch(self, session: _Session, pdu: Pdu) -> None:
        body = pdu.body
        if pdu.is_response:
            session.resolve(pdu)
        elif isinstance(body, EnquireLink):
            await session.write(Pdu(EnquireLinkResp(), pdu.sequence))
        elif isinstance(body, DeliverSm):
            await session.deliveries.put(pdu)  # waits (and so stops reading) when the host lags
        elif isinstance(body, Unbind):
            await session.write(Pdu(UnbindResp(), pdu.sequence))
            session.close("the SMSC unbound")
        else:
            log.warning("SMPP %s: unexpected %s from the SMSC", self.peer,
                        describe_command(pdu.command_id))
            await session.write(Pdu(GenericNack(), pdu.sequence, CommandStatus.ESME_RINVCMDID))

    # --- keepalive ------------------------------------------------------------------------

    async def _keepalive(self, session: _Session) -> None:
        while True:
            await asyncio.sleep(self.settings.enquire_link_interval)
            try:
                response = await session.request(EnquireLink())
            except SmppTimeout as exc:
                session.close("enquire_link unanswered")
                raise SmppConnectionLost(f"the SMSC stopped answering: {exc}") from exc
            if not response.ok:
                log.warning("SMPP %s: enquire_link answered %s", self.peer,
                            describe_status(response.status))

    # --- inbound messages -----------------------------------------------------------------

    async def _deliver_worker(self, session: _Session) -> None:
        # One at a time, so the host sees a customer's messages in the order they came.
        while True:
            try:
                async with asyncio.timeout(self.settings.enquire_link_interval):
                    pdu = await session.deliveries.get()
            except TimeoutError:
                await self._expire_parts()  # quiet link: still give up on stale parts
                continue
            status = await self._handle_deliver(pdu)
            await session.write(Pdu(DeliverSmResp(), pdu.sequence, status))

    async def _handle_deliver(self, pdu: Pdu) -> CommandStatus:
        assert isinstance(pdu.body, DeliverSm)
        try:
            await self._deliver(pdu.body)
        except (_PermanentDeliveryError, DeliveryRefused) as exc:
            log.error("SMPP %s: refusing deliver_sm (sequence %d) for good: %s",
                      self.peer, pdu.sequence, exc)
            return CommandStatus.ESME_RX_P_APPN
        except Exception:
            log.exception("SMPP %s: the host could not take deliver_sm (sequence %d); "
                          "the SMSC will retry", self.peer, pdu.sequence)
            return CommandStatus.ESME_RX_T_APPN
        return CommandStatus.ESME_ROK

    async def _deliver(self, sm: DeliverSm) -> None:
        now = self.clock()
        if sm.is_delivery_receipt:
            try:
                receipt = receipt_from_deliver_sm(sm, now)
            except ValueError as exc:
                raise _PermanentDeliveryError(str(exc)) from exc
            await self.on_receipt(receipt)
            return
        sender, recipient = format_address(sm.source), format_address(sm.destination)
        payload = sm.message
        try:
            concatenation = None
            if sm.has_udh:
                concatenation, payload = split_udh(payload)
            elif Tag.SAR_MSG_REF_NUM in sm.tlvs:
                concatenation = _sar_concatenation(sm)
            if concatenation is None or concatenation.total == 1:
                text = decode_text(payload, sm.data_coding)
                await self.on_message(InboundSms(sender, recipient, text, now, "smpp"))
                return
            done = self.reassembler.add(
                sender=sender, recipient=recipient, concatenation=concatenation,
                payload=payload, data_coding=sm.data_coding, now=asyncio.get_running_loop().time())
        except SmsEncodingError as exc:
            raise _PermanentDeliveryError(f"message from {sender}: {exc}") from exc
        if done is not None:
            key, assembled = done
            try:
                await self.on_message(InboundSms(sender, recipient, assembled.text, now, "smpp",
                                                 parts=assembled.total))
            except DeliveryRefused:
                self.reassembler.release(key, now=asyncio.get_running_loop().time())
                raise
            self.reassembler.release(key, now=asyncio.get_running_loop().time())
        await self._expire_parts()

    async def _expire_parts(self) -> None:
        """Hand over what arrived of long messages whose other parts never came."""
        now = self.clock()
        for assembled in self.reassembler.expire(asyncio.get_running_loop().time()):
            log.warning("SMPP %s: gave up waiting for parts %s of %d of a message from %s",
                        self.peer, list(assembled.missing), assembled.total, assembled.sender)
            self._unstored.append(InboundSms(
                assembled.sender, assembled.recipient, assembled.text, now, "smpp",
                parts=assembled.total, missing_parts=assembled.missing))
        waiting, self._unstored = self._unstored, []
        for index, message in enumerate(waiting):
            try:
                await self.on_message(message)
            except DeliveryRefused as exc:
                log.error("SMPP %s: dropping a partial message from %s: %s", self.peer,
                          message.sender, exc)
            except Exception:
                log.exception("SMPP %s: the host could not take a partial message; retrying later",
                              self.peer)
                self._unstored.extend(waiting[index:])
                return

    # --- sending --------------------------------------------------------------------------

    async def _bound_session(self) -> _Session:
        try:
            await self.wait_bound(self.settings.response_timeout)
        except TimeoutError:
            raise SmppNotBound(f"not bound to {self.peer}") from None
        session = self._session
        if session is None or not session.bound:
            raise SmppNotBound(f"not bound to {self.peer}")
        return session

    async def send(self, to: str, text: str, *, sender: str | None = None) -> list[str]:
        """Submit a message, split into concatenated parts when it is long.

        Waits up to ``response_timeout`` for the link when it is reconnecting.

        Args:
            to: the phone number, ``+`` and country code for international numbers.
            text: the message; GSM 7-bit when it fits, else UCS-2.
            sender: the source address (a short code or sender name); defaults to
                ``settings.default_sender``.

        Returns:
            The SMSC's message id for each part, in order — delivery receipts refer to them.

        Raises:
            SmsEncodingError: the text needs more than ``max_parts`` parts.
            SmppNotBound: no link to the SMSC.
            SmppSubmitError: the SMSC refused a part.
            SmppTimeout, SmppConnectionLost: the outcome is unknown; the SMSC may have it.
        """
        source = parse_address(sender if sender is not None else self.settings.default_sender)
        destination = parse_address(to)
        if not destination.addr:
            raise ValueError("send() needs a destination number")
        self._reference = (self._reference + 1) % 256
        encoded = split_text(text, reference=self._reference, max_parts=self.settings.max_parts)
        esm_class = ESM_UDH_INDICATOR if len(encoded.segments) > 1 else 0
        registered = REGISTERED_DELIVERY_FINAL if self.settings.registered_delivery else 0
        session = await self._bound_session()
        accepted: list[str] = []
        for number, segment in enumerate(encoded.segments, start=1):
            response = await session.request(SubmitSm(
                source=source, destination=destination, short_message=segment.short_message,
                data_coding=encoded.data_coding, esm_class=esm_class,
                registered_delivery=registered))
            if not response.ok or not isinstance(response.body, SubmitSmResp):
                raise SmppSubmitError(
                    f"the SMSC refused part {number} of {len(encoded.segments)} to {to}: "
                    f"{describe_status(response.status)}", response.status, accepted)
            accepted.append(response.body.message_id)
        return accepted


def _sar_concatenation(sm: DeliverSm) -> Concatenation:
    """Concatenation from the sar_* TLVs, the alternative to a UDH some SMSCs use."""
    try:
        reference = int.from_bytes(sm.tlvs[Tag.SAR_MSG_REF_NUM], "big")
        total = sm.tlvs[Tag.SAR_TOTAL_SEGMENTS][0]
        sequence = sm.tlvs[Tag.SAR_SEGMENT_SEQNUM][0]
    except (KeyError, IndexError):
        raise SmsEncodingError(
            "sar_msg_ref_num without sar_total_segments and sar_segment_seqnum") from None
    if total == 0 or not 1 <= sequence <= total:
        raise SmsEncodingError(f"sar segment {sequence} of {total} is out of range")
    return Concatenation(reference, total, sequence)
