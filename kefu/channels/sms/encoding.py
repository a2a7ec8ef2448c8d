"""SMS text encodings, long-message splitting and reassembly — pure functions, no I/O.

An SMS carries 140 octets. Text that fits the GSM 03.38 alphabet goes as 7-bit septets (160
characters); anything else — Chinese, emoji — as UCS-2, i.e. UTF-16BE (70 code units; emoji
outside the BMP take two, a surrogate pair, as phones send them). A longer text is split into
parts that each start with a User Data Header (UDH) naming a reference, the part count and the
part number, so the phone shows one message: that header costs 6 octets, leaving 153 GSM
characters or 67 UCS-2 units per part. Parts never split a surrogate pair or a GSM escape
sequence, since a phone would show garbage at the seam.

SMPP carries GSM text unpacked (one septet per octet); the SMSC packs it for the air.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

# GSM 03.38 default alphabet, indexed by septet value. 0x1B is the escape to the extension table.
GSM_DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
GSM_ESCAPE = 0x1B
# Characters reached through the escape: each costs two septets.
GSM_EXTENSION_TABLE = {
    0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\",
    0x3C: "[", 0x3D: "~", 0x3E: "]", 0x40: "|", 0x65: "€",
}

_GSM_BASIC = {char: code for code, char in enumerate(GSM_DEFAULT_ALPHABET) if code != GSM_ESCAPE}
_GSM_EXTENDED = {char: code for code, char in GSM_EXTENSION_TABLE.items()}

SINGLE_GSM_SEPTETS = 160
PART_GSM_SEPTETS = 153
SINGLE_UCS2_UNITS = 70
PART_UCS2_UNITS = 67
MAX_PARTS = 255  # the UDH part count is one octet

# UDH information elements for concatenation (3GPP TS 23.040 §9.2.3.24.1 and .8).
IE_CONCAT_8BIT = 0x00
IE_CONCAT_16BIT = 0x08


class SmsEncodingError(ValueError):
    """Text or bytes that cannot be encoded, decoded, split or reassembled as asked."""


class DataCoding(enum.IntEnum):
    """SMPP ``data_coding`` values kefu sends."""

    GSM = 0x00  # SMSC default alphabet: GSM 03.38, unpacked
    UCS2 = 0x08  # UTF-16BE


# data_coding values kefu can read, with the Python codec for each (GSM is handled apart).
# 0x0F is reserved in SMPP 3.4 but Chinese gateways use it for GBK, as CMPP does.
_INBOUND_CODECS = {
    0x01: "ascii",
    0x03: "latin_1",
    0x06: "iso8859_5",
    0x07: "iso8859_8",
    0x08: "utf-16-be",
    0x0A: "iso2022_jp",
    0x0E: "euc_kr",
    0x0F: "gbk",
}
_BINARY_CODINGS = {0x02, 0x04}


def is_gsm(text: str) -> bool:
    """True when every character of ``text`` is in the GSM 03.38 alphabet or its extension."""
    return all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text)


def choose_coding(text: str) -> DataCoding:
    """GSM 7-bit when the text allows it (more characters per part), else UCS-2."""
    return DataCoding.GSM if is_gsm(text) else DataCoding.UCS2


def gsm_septets(char: str) -> int:
    """How many septets a GSM character costs: 2 for extension-table characters."""
    return 2 if char in _GSM_EXTENDED else 1


def encode_gsm(text: str) -> bytes:
    """GSM 03.38 septets, one per octet (SMPP's unpacked form).

    Raises:
        SmsEncodingError: a character is not in the GSM alphabet.
    """
    out = bytearray()
    for position, char in enumerate(text):
        if char in _GSM_BASIC:
            out.append(_GSM_BASIC[char])
        elif char in _GSM_EXTENDED:
            out += bytes((GSM_ESCAPE, _GSM_EXTENDED[char]))
        else:
            raise SmsEncodingError(
                f"character {char!r} (U+{ord(char):04X}) at position {position} is not in the "
                "GSM 03.38 alphabet; send the text as UCS-2"
            )
    return bytes(out)


def decode_gsm(data: bytes) -> str:
    """Text from unpacked GSM 03.38 septets.

    An escape followed by a code the extension table does not define reads as the default
    character for that code, as 3GPP TS 23.038 tells receivers to do.
    """
    chars: list[str] = []
    escaped = False
    for octet in data:
        septet = octet & 0x7F
        if escaped:
            chars.append(GSM_EXTENSION_TABLE.get(septet, GSM_DEFAULT_ALPHABET[septet]))
            escaped = False
        elif septet == GSM_ESCAPE:
            escaped = True
        else:
            chars.append(GSM_DEFAULT_ALPHABET[septet])
    if escaped:  # a dangling escape at the end: the spec reads it as a space
        chars.append(" ")
    return "".join(chars)


def encode_ucs2(text: str) -> bytes:
    """UTF-16BE; characters outside the BMP (emoji) become surrogate pairs."""
    return text.encode("utf-16-be")


def decode_text(data: bytes, data_coding: int) -> str:
    """Text of an inbound short message in the given SMPP ``data_coding``.

    Broken bytes from a phone or SMSC (an odd UCS-2 length, a lone surrogate) become U+FFFD
    rather than losing the customer's message.

    Raises:
        SmsEncodingError: the coding is binary or unknown, so there is no text to read.
    """
    if data_coding == 0x00 or (data_coding >= 0xF0 and not data_coding & 0x04):
        return decode_gsm(data)  # 0xF0-0xF3: GSM default alphabet with a message class
    codec = _INBOUND_CODECS.get(data_coding)
    if codec is None and data_coding < 0x40 and data_coding & 0x0C == 0x08:
        codec = "utf-16-be"  # GSM DCS general group with the UCS-2 alphabet bits
    if codec is None:
        kind = "binary data" if data_coding in _BINARY_CODINGS or data_coding >= 0xF0 else "unknown"
        raise SmsEncodingError(
            f"data_coding 0x{data_coding:02X} is {kind}; kefu reads GSM (0x00), ASCII (0x01), "
            "Latin-1 (0x03), Cyrillic (0x06), Hebrew (0x07), UCS-2 (0x08), ISO-2022-JP (0x0A), "
            "KS C 5601 (0x0E) and GBK (0x0F)"
        )
    return data.decode(codec, errors="replace")


@dataclass(frozen=True, slots=True)
class Concatenation:
    """Which part of a concatenated message a short message is (from its UDH)."""

    reference: int
    total: int
    sequence: int  # 1-based


@dataclass(frozen=True, slots=True)
class Segment:
    """One short message of an outbound text: its UDH (empty for a single part) and payload."""

    text: str
    udh: bytes
    payload: bytes

    @property
    def short_message(self) -> bytes:
        return self.udh + self.payload


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """An outbound text ready for the wire: its coding and one segment per short message."""

    data_coding: DataCoding
    segments: tuple[Segment, ...]


def concatenation_udh(reference: int, total: int, sequence: int) -> bytes:
    """The 6-octet UDH for part ``sequence`` of ``total`` with an 8-bit reference."""
    return bytes((0x05, IE_CONCAT_8BIT, 0x03, reference & 0xFF, total, sequence))


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _chunks(text: str, limit: int, weight: Callable[[str], int]) -> Iterator[str]:
    """Split text greedily into runs whose summed weight stays within ``limit``.

    The weight is per character (a GSM extension character is two septets, a character
    outside the BMP two UTF-16 units), so no character is ever cut in half.
    """
    current: list[str] = []
    used = 0
    for char in text:
        cost = weight(char)
        if used + cost > limit:
            yield "".join(current)
            current, used = [], 0
        current.append(char)
        used += cost
    yield "".join(current)


def _length(text: str, coding: DataCoding) -> int:
    weight = gsm_septets if coding is DataCoding.GSM else _utf16_units
    return sum(weight(char) for char in text)


def split_text(text: str, *, reference: int, max_parts: int = MAX_PARTS) -> EncodedMessage:
    """Encode ``text`` as one short message, or as concatenated parts when it is too long.

    Args:
        text: the message.
        reference: the concatenation reference (0-255) shared by the parts; callers vary it
            per message so a phone does not merge two messages.
        max_parts: refuse texts that would need more parts (each part is billed).

    Raises:
        SmsEncodingError: the text needs more than ``max_parts`` parts.
    """
    coding = choose_coding(text)
    single, per_part = (
        (SINGLE_GSM_SEPTETS, PART_GSM_SEPTETS) if coding is DataCoding.GSM
        else (SINGLE_UCS2_UNITS, PART_UCS2_UNITS)
    )
    encode = encode_gsm if coding is DataCoding.GSM else encode_ucs2
    if _length(text, coding) <= single:
        return EncodedMessage(coding, (Segment(text, b"", encode(text)),))
    weight = gsm_septets if coding is DataCoding.GSM else _utf16_units
    pieces = list(_chunks(text, per_part, weight))
    limit = min(max_parts, MAX_PARTS)
    if len(pieces) > limit:
        unit = "GSM characters" if coding is DataCoding.GSM else "UCS-2 units"
        raise SmsEncodingError(
            f"message needs {len(pieces)} parts of {per_part} {unit}; at most {limit} are allowed"
        )
    total = len(pieces)
    return EncodedMessage(coding, tuple(
        Segment(piece, concatenation_udh(reference, total, number), encode(piece))
        for number, piece in enumerate(pieces, start=1)
    ))


def split_udh(short_message: bytes) -> tuple[Concatenation | None, bytes]:
    """Separate a short message that carries a UDH into its concatenation info and payload.

    Only call this when the message says it has a UDH (SMPP ``esm_class`` bit 0x40).

    Raises:
        SmsEncodingError: the header is truncated or its concatenation element is invalid.
    """
    if not short_message:
        raise SmsEncodingError("UDH indicator set but the short message is empty")
    header_length = short_message[0]
    if header_length + 1 > len(short_message):
        raise SmsEncodingError(
            f"UDH length {header_length} exceeds the {len(short_message) - 1} octets that follow it"
        )
    header, payload = short_message[1:header_length + 1], short_message[header_length + 1:]
    concatenation = None
    offset = 0
    while offset < len(header):
        if offset + 2 > len(header):
            raise SmsEncodingError(f"UDH information element at octet {offset} is truncated")
        element, length = header[offset], header[offset + 1]
        value = header[offset + 2:offset + 2 + length]
        if len(value) != length:
            raise SmsEncodingError(
                f"UDH information element 0x{element:02X} claims {length} octets, has {len(value)}"
            )
        if element == IE_CONCAT_8BIT and length == 3:
            concatenation = _concatenation(value[0], value[1], value[2])
        elif element == IE_CONCAT_16BIT and length == 4:
            concatenation = _concatenation(int.from_bytes(value[:2], "big"), value[2], value[3])
        offset += 2 + length
    return concatenation, payload


def _concatenation(reference: int, total: int, sequence: int) -> Concatenation:
    if total == 0 or not 1 <= sequence <= total:
        raise SmsEncodingError(f"concatenated part {sequence} of {total} is out of range")
    return Concatenation(reference, total, sequence)


@dataclass(frozen=True, slots=True)
class AssembledText:
    """A message put back together from its parts (or given up on, with ``missing`` parts)."""

    sender: str
    recipient: str
    text: str
    total: int
    missing: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass
class _Pending:
    data_coding: int
    total: int
    first_seen: float
    parts: dict[int, bytes] = field(default_factory=dict)


# Identifies one concatenated message: sender, recipient, reference, part count.
PartsKey = tuple[str, str, int, int]


class Reassembler:
    """Collects the parts of inbound concatenated messages until each is complete.

    Parts are keyed by sender, recipient, reference and part count, may arrive in any order
    and may repeat (an SMSC resends a part whose response it missed). A completed message
    stays held until :meth:`release` — the host acknowledges the last part only after it has
    stored the message, and if storing fails the SMSC resends that part, which must complete
    the message again. A message whose parts stop coming is given up on after ``timeout``
    seconds by :meth:`expire`, which returns what arrived so the customer's words are kept.

    Time is whatever clock the caller passes as ``now`` (seconds), so tests need no sleeping.
    """

    def __init__(self, *, timeout: float = 300.0, max_pending: int = 10_000) -> None:
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[PartsKey, _Pending] = {}
        # Recently completed messages, so a late duplicate of one of their parts is
        # recognised instead of starting a new message that would later expire half-empty.
        self._completed: dict[PartsKey, tuple[float, dict[int, bytes]]] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, *, sender: str, recipient: str, concatenation: Concatenation, payload: bytes,
            data_coding: int, now: float) -> tuple[PartsKey, AssembledText] | None:
        """Take one part; return the key and the whole message once every part is in.

        Returns None while parts are missing, and for a duplicate of an already completed
        and released message.

        Raises:
            SmsEncodingError: too many incomplete messages are held (a flood), or the parts
                use a coding with no text.
        """
        decode_text(b"", data_coding)  # refuse binary parts now, not when they expire
        key = (sender, recipient, concatenation.reference, concatenation.total)
        seen = self._completed.get(key)
        if seen is not None and seen[1].get(concatenation.sequence) == payload:
            return None
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.max_pending:
                raise SmsEncodingError(
                    f"{len(self._pending)} incomplete concatenated messages are waiting; "
                    "refusing more parts until some complete or expire"
                )
            pending = self._pending[key] = _Pending(data_coding, concatenation.total, now)
        pending.parts[concatenation.sequence] = payload
        if len(pending.parts) < pending.total:
            return None
        return key, self._assemble(key, pending)

    def release(self, key: PartsKey, *, now: float) -> None:
        """Forget a completed message once the host has stored it."""
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._completed[key] = (now, pending.parts)

    def expire(self, now: float) -> list[AssembledText]:
        """Give up on messages whose parts have not all arrived within ``timeout``.

        Returns what did arrive of each (``missing`` lists the part numbers that never came).
        """
        given_up: list[AssembledText] = []
        for key, pending in list(self._pending.items()):
            if now - pending.first_seen >= self.timeout:
                del self._pending[key]
                given_up.append(self._assemble(key, pending))
        for key, (completed_at, _parts) in list(self._completed.items()):
            if now - completed_at >= self.timeout:
                del self._completed[key]
        return given_up

    @staticmethod
    def _assemble(key: PartsKey, pending: _Pending) -> AssembledText:
        # Concatenate the bytes before decoding: another sender's splitter may have cut a
        # surrogate pair or a GSM escape across parts.
        present = [pending.parts[number] for number in sorted(pending.parts)]
        missing = tuple(n for n in range(1, pending.total + 1) if n not in pending.parts)
        text = decode_text(b"".join(present), pending.data_coding)
        return AssembledText(key[0], key[1], text, pending.total, missing)


def join_segments(segments: Iterable[Segment]) -> str:
    """The text of an outbound message's segments, in order (for logs and tests)."""
    return "".join(segment.text for segment in segments)
