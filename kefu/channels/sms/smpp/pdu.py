"""SMPP 3.4 protocol data units: a sans-I/O codec and stream framer.

Every PDU is a 16-octet header (command_length, command_id, command_status,
sequence_number, big-endian) and a body of mandatory fields — NUL-terminated C-octet strings
and single octets — followed by optional TLV parameters. :func:`encode` builds the bytes of
a :class:`Pdu`; :class:`PduStream` takes bytes as they come off a socket and yields decoded
PDUs, or a :class:`PduError` naming what is wrong with a frame together with the response
SMPP prescribes (``generic_nack`` for a broken header, the command's own ``*_resp`` with an
error status for a broken body), so a peer's bad PDU never crashes the client.

Only what an ESME needs is decoded: binds, unbind, submit_sm, deliver_sm, enquire_link,
generic_nack and their responses. Other commands are answered with ``ESME_RINVCMDID``.
"""

from __future__ import annotations

import enum
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import ClassVar

HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
# SMPP sets no upper bound; 64 KiB holds the largest message_payload and keeps a peer from
# making us buffer without limit.
DEFAULT_MAX_PDU_LENGTH = 65_536
RESPONSE_BIT = 0x80000000
MAX_SEQUENCE = 0x7FFFFFFF
INTERFACE_VERSION = 0x34

# esm_class bits (SMPP 3.4 §5.2.12)
ESM_UDH_INDICATOR = 0x40
ESM_MESSAGE_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
ESM_INTERMEDIATE_NOTIFICATION = 0x20
# registered_delivery: ask for a receipt on final success or failure
REGISTERED_DELIVERY_FINAL = 0x01


class CommandId(enum.IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class CommandStatus(enum.IntEnum):
    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RMSGQFUL = 0x14
    ESME_RINVESMCLASS = 0x43
    ESME_RSUBMITFAIL = 0x45
    ESME_RTHROTTLED = 0x58
    ESME_RX_T_APPN = 0x64  # temporary application error: the SMSC retries later
    ESME_RX_P_APPN = 0x65  # permanent application error: the SMSC gives up
    ESME_RX_R_APPN = 0x66
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


def describe_status(status: int) -> str:
    """``ESME_RINVPASWD (0x0000000E)`` for a known status, the hex value otherwise."""
    try:
        return f"{CommandStatus(status).name} (0x{status:08X})"
    except ValueError:
        return f"status 0x{status:08X}"


def describe_command(command_id: int) -> str:
    try:
        return CommandId(command_id).name.lower()
    except ValueError:
        return f"command 0x{command_id:08X}"


class Tag(enum.IntEnum):
    """Optional parameter tags kefu reads or writes."""

    DEST_ADDR_SUBUNIT = 0x0005
    RECEIPTED_MESSAGE_ID = 0x001E
    USER_MESSAGE_REFERENCE = 0x0204
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class MessageState(enum.IntEnum):
    """The ``message_state`` TLV of a delivery receipt (SMPP 3.4 §5.2.28)."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class PduDecodeError(ValueError):
    """A frame that is not a valid PDU; ``status`` is the SMPP error to answer with."""

    def __init__(self, reason: str, status: CommandStatus) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class PduEncodeError(ValueError):
    """Fields that cannot be put on the wire (too long, not ASCII)."""


@dataclass(frozen=True, slots=True)
class Address:
    """An SMPP address: type of number, numbering plan indicator, digits or name."""

    addr: str = ""
    ton: int = 0
    npi: int = 0


# --- bodies -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BindTransceiver:
    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER

    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = INTERFACE_VERSION
    address_range: Address = Address()


@dataclass(frozen=True, slots=True)
class BindTransceiverResp:
    command_id: ClassVar[CommandId] = CommandId.BIND_TRANSCEIVER_RESP

    system_id: str = ""
    tlvs: Mapping[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ShortMessage:
    """The fields submit_sm and deliver_sm share (they have the same layout)."""

    command_id: ClassVar[CommandId]

    source: Address
    destination: Address
    short_message: bytes = b""
    data_coding: int = 0
    esm_class: int = 0
    registered_delivery: int = 0
    service_type: str = ""
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    replace_if_present_flag: int = 0
    sm_default_msg_id: int = 0
    tlvs: Mapping[int, bytes] = field(default_factory=dict)

    @property
    def message(self) -> bytes:
        """The user data: ``message_payload`` when present (long messages), else short_message."""
        payload = self.tlvs.get(Tag.MESSAGE_PAYLOAD)
        return payload if payload is not None else self.short_message

    @property
    def has_udh(self) -> bool:
        return bool(self.esm_class & ESM_UDH_INDICATOR)

    @property
    def is_delivery_receipt(self) -> bool:
        kind = self.esm_class & ESM_MESSAGE_TYPE_MASK
        return kind in (ESM_DELIVERY_RECEIPT, ESM_INTERMEDIATE_NOTIFICATION)


@dataclass(frozen=True, slots=True)
class SubmitSm(ShortMessage):
    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM


@dataclass(frozen=True, slots=True)
class DeliverSm(ShortMessage):
    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM


@dataclass(frozen=True, slots=True)
class SubmitSmResp:
    command_id: ClassVar[CommandId] = CommandId.SUBMIT_SM_RESP

    message_id: str = ""


@dataclass(frozen=True, slots=True)
class DeliverSmResp:
    command_id: ClassVar[CommandId] = CommandId.DELIVER_SM_RESP

    message_id: str = ""  # unused by SMPP 3.4, always empty


@dataclass(frozen=True, slots=True)
class EnquireLink:
    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, slots=True)
class EnquireLinkResp:
    command_id: ClassVar[CommandId] = CommandId.ENQUIRE_LINK_RESP


@dataclass(frozen=True, slots=True)
class Unbind:
    command_id: ClassVar[CommandId] = CommandId.UNBIND


@dataclass(frozen=True, slots=True)
class UnbindResp:
    command_id: ClassVar[CommandId] = CommandId.UNBIND_RESP


@dataclass(frozen=True, slots=True)
class GenericNack:
    command_id: ClassVar[CommandId] = CommandId.GENERIC_NACK


Body = (
    BindTransceiver | BindTransceiverResp | SubmitSm | DeliverSm | SubmitSmResp | DeliverSmResp
    | EnquireLink | EnquireLinkResp | Unbind | UnbindResp | GenericNack
)


@dataclass(frozen=True, slots=True)
class Pdu:
    """A header's sequence number and status around a body; the body decides the command."""

    body: Body
    sequence: int
    status: int = CommandStatus.ESME_ROK

    @property
    def command_id(self) -> CommandId:
        return self.body.command_id

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)

    @property
    def ok(self) -> bool:
        return self.status == CommandStatus.ESME_ROK


# --- encoding -----------------------------------------------------------------------------

# Maximum C-octet string sizes, terminating NUL included (SMPP 3.4 §4).
_LIMITS = {
    "system_id": 16, "password": 9, "system_type": 13, "address_range": 41,
    "service_type": 6, "source_addr": 21, "destination_addr": 21,
    "schedule_delivery_time": 17, "validity_period": 17, "message_id": 65,
}


def _cstring(name: str, value: str) -> bytes:
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise PduEncodeError(f"{name} must be ASCII, got {value!r}") from None
    limit = _LIMITS.get(name)
    if limit is not None and len(raw) + 1 > limit:
        raise PduEncodeError(
            f"{name} {value!r} is longer than SMPP allows ({limit - 1} characters)")
    if b"\x00" in raw:
        raise PduEncodeError(f"{name} must not contain NUL")
    return raw + b"\x00"


def _octet(name: str, value: int) -> bytes:
    if not 0 <= value <= 0xFF:
        raise PduEncodeError(f"{name} must be 0-255, got {value}")
    return bytes((value,))


def _address(prefix: str, address: Address) -> bytes:
    field_name = "address_range" if prefix == "addr" else f"{prefix}_addr"
    return (_octet(f"{prefix}_addr_ton", address.ton) + _octet(f"{prefix}_addr_npi", address.npi)
            + _cstring(field_name, address.addr))


def encode_tlvs(tlvs: Mapping[int, bytes]) -> bytes:
    out = bytearray()
    for tag, value in tlvs.items():
        if len(value) > 0xFFFF:
            raise PduEncodeError(f"optional parameter 0x{tag:04X} is longer than 65535 octets")
        out += struct.pack(">HH", tag, len(value)) + value
    return bytes(out)


def tlv_int(value: int, size: int) -> bytes:
    """An integer TLV value of ``size`` octets."""
    return value.to_bytes(size, "big")


def tlv_cstring(value: str) -> bytes:
    """A C-octet string TLV value (e.g. ``receipted_message_id``)."""
    return value.encode("ascii") + b"\x00"


def _encode_body(body: Body) -> bytes:
    if isinstance(body, BindTransceiver):
        return (_cstring("system_id", body.system_id) + _cstring("password", body.password)
                + _cstring("system_type", body.system_type)
                + _octet("interface_version", body.interface_version)
                + _address("addr", body.address_range))
    if isinstance(body, BindTransceiverResp):
        return _cstring("system_id", body.system_id) + encode_tlvs(body.tlvs)
    if isinstance(body, ShortMessage):
        if len(body.short_message) > 254:
            raise PduEncodeError(
                f"short_message is {len(body.short_message)} octets; SMPP allows 254 — "
                "use the message_payload parameter or split the message"
            )
        return (_cstring("service_type", body.service_type)
                + _address("source", body.source) + _address("dest", body.destination)
                + _octet("esm_class", body.esm_class) + _octet("protocol_id", body.protocol_id)
                + _octet("priority_flag", body.priority_flag)
                + _cstring("schedule_delivery_time", body.schedule_delivery_time)
                + _cstring("validity_period", body.validity_period)
                + _octet("registered_delivery", body.registered_delivery)
                + _octet("replace_if_present_flag", body.replace_if_present_flag)
                + _octet("data_coding", body.data_coding)
                + _octet("sm_default_msg_id", body.sm_default_msg_id)
                + bytes((len(body.short_message),)) + body.short_message
                + encode_tlvs(body.tlvs))
    if isinstance(body, SubmitSmResp | DeliverSmResp):
        return _cstring("message_id", body.message_id)
    return b""  # enquire_link, unbind, generic_nack and their responses have no body


def encode(pdu: Pdu) -> bytes:
    """The wire bytes of ``pdu``.

    Raises:
        PduEncodeError: a field does not fit SMPP (too long, not ASCII, out of range).
    """
    if not 1 <= pdu.sequence <= MAX_SEQUENCE and not (
        pdu.sequence == 0 and pdu.command_id == CommandId.GENERIC_NACK
    ):
        raise PduEncodeError(f"sequence number {pdu.sequence} is outside 1..0x7FFFFFFF")
    body = _encode_body(pdu.body)
    return HEADER.pack(HEADER_SIZE + len(body), pdu.command_id, pdu.status, pdu.sequence) + body


# --- decoding -----------------------------------------------------------------------------


class _Reader:
    """Reads a PDU body field by field; errors name the command and the field."""

    def __init__(self, command: str, data: bytes) -> None:
        self.command = command
        self.data = data
        self.offset = 0

    def _fail(self, reason: str,
              status: CommandStatus = CommandStatus.ESME_RINVMSGLEN) -> PduDecodeError:
        return PduDecodeError(f"{self.command}: {reason}", status)

    def cstring(self, name: str) -> str:
        end = self.data.find(b"\x00", self.offset)
        if end < 0:
            raise self._fail(f"{name} at octet {self.offset} of the body has no terminating NUL")
        raw = self.data[self.offset:end]
        self.offset = end + 1
        return raw.decode("latin-1")  # lenient: any byte reads, nothing is lost

    def octet(self, name: str) -> int:
        if self.offset >= len(self.data):
            raise self._fail(f"body ends before {name}")
        value = self.data[self.offset]
        self.offset += 1
        return value

    def take(self, name: str, length: int) -> bytes:
        if self.offset + length > len(self.data):
            raise self._fail(
                f"{name} claims {length} octets but only {len(self.data) - self.offset} remain"
            )
        value = self.data[self.offset:self.offset + length]
        self.offset += length
        return value

    def address(self, prefix: str) -> Address:
        ton = self.octet(f"{prefix}_addr_ton")
        npi = self.octet(f"{prefix}_addr_npi")
        return Address(self.cstring("address_range" if prefix == "addr" else f"{prefix}_addr"),
                       ton, npi)

    @property
    def at_end(self) -> bool:
        return self.offset >= len(self.data)

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while not self.at_end:
            if self.offset + 4 > len(self.data):
                raise self._fail(
                    f"{len(self.data) - self.offset} stray octets where an optional parameter "
                    "header (4 octets) should be", CommandStatus.ESME_RINVOPTPARSTREAM)
            tag, length = struct.unpack_from(">HH", self.data, self.offset)
            self.offset += 4
            if self.offset + length > len(self.data):
                raise self._fail(
                    f"optional parameter 0x{tag:04X} claims {length} octets but only "
                    f"{len(self.data) - self.offset} remain", CommandStatus.ESME_RINVOPTPARSTREAM)
            found[tag] = self.data[self.offset:self.offset + length]
            self.offset += length
        return found


def _decode_short_message(reader: _Reader,
                          kind: type[SubmitSm] | type[DeliverSm]) -> SubmitSm | DeliverSm:
    service_type = reader.cstring("service_type")
    source = reader.address("source")
    destination = reader.address("dest")
    esm_class = reader.octet("esm_class")
    protocol_id = reader.octet("protocol_id")
    priority_flag = reader.octet("priority_flag")
    schedule = reader.cstring("schedule_delivery_time")
    validity = reader.cstring("validity_period")
    registered = reader.octet("registered_delivery")
    replace = reader.octet("replace_if_present_flag")
    data_coding = reader.octet("data_coding")
    default_msg = reader.octet("sm_default_msg_id")
    length = reader.octet("sm_length")
    short_message = reader.take("short_message", length)
    return kind(
        source=source, destination=destination, short_message=short_message,
        data_coding=data_coding, esm_class=esm_class, registered_delivery=registered,
        service_type=service_type, protocol_id=protocol_id, priority_flag=priority_flag,
        schedule_delivery_time=schedule, validity_period=validity,
        replace_if_present_flag=replace, sm_default_msg_id=default_msg, tlvs=reader.tlvs(),
    )


_EmptyBody = EnquireLink | EnquireLinkResp | Unbind | UnbindResp | GenericNack
_EMPTY_BODIES: dict[int, type[_EmptyBody]] = {
    CommandId.ENQUIRE_LINK: EnquireLink,
    CommandId.ENQUIRE_LINK_RESP: EnquireLinkResp,
    CommandId.UNBIND: Unbind,
    CommandId.UNBIND_RESP: UnbindResp,
    CommandId.GENERIC_NACK: GenericNack,
}


def _decode_body(command_id: int, status: int, data: bytes) -> Body:
    reader = _Reader(describe_command(command_id), data)
    empty = _EMPTY_BODIES.get(command_id)
    if empty is not None:
        # Tolerate stray octets: some SMSCs pad empty PDUs, and nothing in them matters.
        return empty()
    if command_id in (CommandId.SUBMIT_SM, CommandId.DELIVER_SM):
        return _decode_short_message(
            reader, SubmitSm if command_id == CommandId.SUBMIT_SM else DeliverSm)
    if command_id == CommandId.BIND_TRANSCEIVER:
        system_id = reader.cstring("system_id")
        password = reader.cstring("password")
        system_type = reader.cstring("system_type")
        version = reader.octet("interface_version")
        return BindTransceiver(system_id, password, system_type, version, reader.address("addr"))
    if command_id in (CommandId.SUBMIT_SM_RESP, CommandId.DELIVER_SM_RESP,
                      CommandId.BIND_TRANSCEIVER_RESP):
        # An error response may come without a body at all (SMPP 3.4 §4.4.2).
        text = "" if reader.at_end and status else reader.cstring(
            "system_id" if command_id == CommandId.BIND_TRANSCEIVER_RESP else "message_id")
        if command_id == CommandId.SUBMIT_SM_RESP:
            return SubmitSmResp(text)
        if command_id == CommandId.DELIVER_SM_RESP:
            return DeliverSmResp(text)
        return BindTransceiverResp(text, reader.tlvs())
    raise PduDecodeError(
        f"{describe_command(command_id)} is not supported by kefu's SMPP client",
        CommandStatus.ESME_RINVCMDID,
    )


def decode(frame: bytes) -> Pdu:
    """Decode one whole frame (header and body).

    Raises:
        PduDecodeError: the frame is malformed; the message names the field.
    """
    if len(frame) < HEADER_SIZE:
        raise PduDecodeError(f"PDU of {len(frame)} octets is shorter than the 16-octet header",
                             CommandStatus.ESME_RINVCMDLEN)
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise PduDecodeError(f"command_length {length} does not match the {len(frame)}-octet frame",
                             CommandStatus.ESME_RINVCMDLEN)
    return Pdu(_decode_body(command_id, status, frame[HEADER_SIZE:]), sequence, status)


# Which response answers a request whose body could not be decoded.
_ERROR_RESPONSES: dict[int, Body] = {
    CommandId.SUBMIT_SM: SubmitSmResp(),
    CommandId.DELIVER_SM: DeliverSmResp(),
    CommandId.BIND_TRANSCEIVER: BindTransceiverResp(),
    CommandId.ENQUIRE_LINK: EnquireLinkResp(),
    CommandId.UNBIND: UnbindResp(),
}
# PDUs that SMPP defines without a response: never answer them.
_UNANSWERED = {CommandId.ALERT_NOTIFICATION, CommandId.OUTBIND}


@dataclass(frozen=True, slots=True)
class PduError:
    """A frame the stream could not decode, and how to answer it.

    ``fatal`` means the byte stream cannot be trusted any more (a bad command_length loses
    the frame boundaries): send the response, then drop the connection.
    """

    reason: str
    command_id: int | None
    sequence: int
    status: CommandStatus
    fatal: bool = False

    @property
    def is_response(self) -> bool:
        return self.command_id is not None and bool(self.command_id & RESPONSE_BIT)

    def response(self) -> Pdu | None:
        """The PDU to send back, or None when SMPP wants no answer (to a response, or to a
        one-way PDU such as alert_notification)."""
        if self.command_id in _UNANSWERED:
            return None
        if self.command_id is not None and self.is_response and not self.fatal:
            return None
        body = _ERROR_RESPONSES.get(self.command_id or 0) if not self.fatal else None
        if body is None or self.status == CommandStatus.ESME_RINVCMDID:
            return Pdu(GenericNack(), self.sequence, self.status)
        return Pdu(body, self.sequence, self.status)


class PduStream:
    """Incremental framing: feed bytes as they arrive, get whole PDUs (or errors) back.

    A frame with an unknown command or a broken body is reported and skipped — its length is
    still trustworthy. A command_length below 16 or above ``max_length`` is fatal: the stream
    stops decoding (:attr:`broken`) because the next frame boundary is unknown.
    """

    def __init__(self, max_length: int = DEFAULT_MAX_PDU_LENGTH) -> None:
        self.max_length = max_length
        self._buffer = bytearray()
        self.broken = False

    def feed(self, data: bytes) -> list[Pdu | PduError]:
        if self.broken:
            return []
        self._buffer += data
        out: list[Pdu | PduError] = []
        while len(self._buffer) >= HEADER_SIZE:
            length, command_id, status, sequence = HEADER.unpack_from(self._buffer)
            if length < HEADER_SIZE or length > self.max_length:
                self.broken = True
                self._buffer.clear()
                out.append(PduError(
                    f"command_length {length} of {describe_command(command_id)} (sequence "
                    f"{sequence}) is outside {HEADER_SIZE}..{self.max_length} octets",
                    command_id, sequence, CommandStatus.ESME_RINVCMDLEN, fatal=True))
                break
            if len(self._buffer) < length:
                break
            frame = bytes(self._buffer[:length])
            del self._buffer[:length]
            try:
                out.append(Pdu(_decode_body(command_id, status, frame[HEADER_SIZE:]),
                               sequence, status))
            except PduDecodeError as exc:
                out.append(PduError(exc.reason, command_id, sequence, exc.status))
        return out


# --- delivery receipts --------------------------------------------------------------------

_RECEIPT_KEY = re.compile(r"(?i)\b(id|sub|dlvrd|submit date|done date|stat|err|text):")


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """The fields of a delivery receipt's text (SMPP 3.4 Appendix B, as SMSCs send it)."""

    message_id: str
    stat: str
    submitted: int | None = None
    delivered: int | None = None
    submit_date: str = ""
    done_date: str = ""
    err: str = ""
    text: str = ""

    def done_at(self, zone: tzinfo = UTC) -> datetime | None:
        """``done date`` as a time in ``zone`` (receipts carry no zone; the SMSC's is used),
        or None when absent or not YYMMDDhhmm[ss]."""
        return _receipt_time(self.done_date, zone)

    def submitted_at(self, zone: tzinfo = UTC) -> datetime | None:
        return _receipt_time(self.submit_date, zone)


def _receipt_time(value: str, zone: tzinfo) -> datetime | None:
    digits = value.strip()
    if not digits.isdigit() or len(digits) not in (10, 12):
        return None
    parts = [int(digits[i:i + 2]) for i in range(0, len(digits), 2)]
    try:
        return datetime(2000 + parts[0], parts[1], parts[2], parts[3], parts[4],
                        parts[5] if len(parts) == 6 else 0, tzinfo=zone)
    except ValueError:
        return None


def _count(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


def parse_receipt_text(text: str) -> ReceiptText:
    """Read ``id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…``.

    Keys are matched case-insensitively and in any order; ``text`` runs to the end.

    Raises:
        ValueError: ``id`` or ``stat`` is missing — without them the receipt says nothing.
    """
    matches = list(_RECEIPT_KEY.finditer(text))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        key = match.group(1).lower()
        if key in fields:
            continue
        if key == "text":
            fields[key] = text[match.end():]
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields[key] = text[match.end():end].strip()
    missing = [key for key in ("id", "stat") if not fields.get(key)]
    if missing:
        raise ValueError(
            f"delivery receipt has no {' or '.join(repr(k + ':') for k in missing)} field: "
            f"{text[:80]!r}"
        )
    return ReceiptText(
        message_id=fields["id"], stat=fields["stat"].upper(),
        submitted=_count(fields.get("sub", "")), delivered=_count(fields.get("dlvrd", "")),
        submit_date=fields.get("submit date", ""), done_date=fields.get("done date", ""),
        err=fields.get("err", ""), text=fields.get("text", ""),
    )
