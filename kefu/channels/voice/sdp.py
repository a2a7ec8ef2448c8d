"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for G.711 audio with RFC 4733 DTMF.

:func:`parse_sdp` reads a session description (raising :class:`SdpError` naming the line);
:func:`build_offer` and :func:`answer` write ours; :func:`negotiate` reads the peer's side into
a :class:`Negotiated` media plan: where to send RTP, which payload type, the telephone-event
payload type, and the direction (``sendonly``/``inactive`` from the peer, or a 0.0.0.0
connection address, is hold).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

PCMU = 0
PCMA = 8
TELEPHONE_EVENT = 101

#: Static payload types we speak, in our preference order.
CODECS = {PCMU: "PCMU/8000", PCMA: "PCMA/8000"}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
MAX_SDP_BYTES = 16_384


class SdpError(ValueError):
    """A session description that cannot be used, naming the line."""

    def __init__(self, what: str, line: int | None = None) -> None:
        where = f"line {line}" if line is not None else "SDP"
        super().__init__(f"{what} ({where})")
        self.what = what
        self.line = line


class NotAcceptable(ValueError):
    """An offer with no codec we support (answer 488 Not Acceptable Here)."""


@dataclass
class Media:
    """One ``m=`` section."""

    kind: str
    port: int
    proto: str
    formats: list[str]
    connection: str | None = None
    attributes: list[tuple[str, str | None]] = field(default_factory=list)

    def attribute(self, name: str) -> list[str | None]:
        return [v for k, v in self.attributes if k == name]

    @property
    def direction(self) -> str:
        for name, _ in self.attributes:
            if name in DIRECTIONS:
                return name
        return ""

    def rtpmap(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for value in self.attribute("rtpmap"):
            if value:
                pt, _, enc = value.partition(" ")
                if pt.isdigit():
                    out[int(pt)] = enc.strip()
        return out


@dataclass
class SessionDescription:
    origin: str
    name: str
    connection: str | None
    media: list[Media]
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    version: int = 0

    @property
    def direction(self) -> str:
        for name, _ in self.attributes:
            if name in DIRECTIONS:
                return name
        return "sendrecv"

    def __bytes__(self) -> bytes:
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.name}"]
        if self.connection:
            lines.append(f"c={_connection(self.connection)}")
        lines.append("t=0 0")
        lines.extend(_attr(k, v) for k, v in self.attributes)
        for m in self.media:
            lines.append(f"m={m.kind} {m.port} {m.proto} {' '.join(m.formats)}")
            if m.connection:
                lines.append(f"c={_connection(m.connection)}")
            lines.extend(_attr(k, v) for k, v in m.attributes)
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _connection(address: str) -> str:
    return f"IN {'IP6' if ':' in address else 'IP4'} {address}"


def _attr(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


def parse_sdp(data: bytes) -> SessionDescription:  # noqa: PLR0912, PLR0915 - one pass
    """Parse a session description.

    Raises:
        SdpError: naming the bad line.
    """
    if len(data) > MAX_SDP_BYTES:
        raise SdpError(f"SDP of {len(data)} bytes exceeds {MAX_SDP_BYTES}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError(f"not UTF-8 (byte {exc.start})") from None
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise SdpError("empty session description")
    origin = name = ""
    connection: str | None = None
    media: list[Media] = []
    session_attrs: list[tuple[str, str | None]] = []
    seen_version = False
    for number, line in enumerate(lines, start=1):
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"expected '<type>=<value>', found {line[:40]!r}", number)
        kind, value = line[0], line[2:]
        if number == 1:
            if kind != "v" or value.strip() != "0":
                raise SdpError(f"the first line must be 'v=0', found {line[:40]!r}", number)
            seen_version = True
            continue
        if kind == "o":
            if len(value.split()) != 6:
                raise SdpError("o= needs 6 fields: username sess-id sess-version nettype "
                               "addrtype address", number)
            origin = value
        elif kind == "s":
            name = value
        elif kind == "c":
            address = _parse_connection(value, number)
            if media:
                media[-1].connection = address
            else:
                connection = address
        elif kind == "m":
            media.append(_parse_media(value, number))
        elif kind == "a":
            attr_name, colon, attr_value = value.partition(":")
            if not attr_name:
                raise SdpError("empty attribute name", number)
            attr = (attr_name, attr_value if colon else None)
            if attr_name == "rtpmap" and colon:
                pt, _, enc = attr_value.partition(" ")
                if not pt.isdigit() or int(pt) > 127 or "/" not in enc:
                    raise SdpError(f"bad rtpmap {attr_value[:40]!r}: expected "
                                   "'<payload type> <encoding>/<clock rate>'", number)
            (media[-1].attributes if media else session_attrs).append(attr)
    if not seen_version:
        raise SdpError("missing v=0")
    if not origin:
        raise SdpError("missing o= line")
    return SessionDescription(origin, name or "-", connection, media, session_attrs)


def _parse_connection(value: str, number: int) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad connection {value[:40]!r}: expected 'IN IP4 <address>'", number)
    return parts[2].split("/")[0]


def _parse_media(value: str, number: int) -> Media:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError(f"bad media line {value[:40]!r}: expected '<media> <port> <proto> "
                       "<fmt> ...'", number)
    port_text = parts[1].split("/")[0]
    if not port_text.isdigit() or int(port_text) > 65535:
        raise SdpError(f"bad media port {parts[1]!r}", number)
    return Media(parts[0], int(port_text), parts[2], parts[3:])


@dataclass(frozen=True)
class Negotiated:
    """What the peer's description means for our RTP.

    Attributes:
        address: where to send RTP (None when the peer has no usable address: on hold).
        port: the peer's RTP port (0: the stream was rejected).
        payload_type: the G.711 payload type both sides use (the peer's number).
        dtmf_payload_type: the telephone-event payload type, or None.
        direction: the peer's direction (``sendrecv``, ``sendonly``…).
        ptime: the packet time in ms.
        encoding: ``PCMU`` or ``PCMA``.
    """

    address: str | None
    port: int
    payload_type: int
    dtmf_payload_type: int | None
    direction: str
    ptime: int = 20
    encoding: str = "PCMU"

    @property
    def on_hold(self) -> bool:
        """The peer put us on hold (RFC 3264 §8.4, and the older c=0.0.0.0 form)."""
        hold_address = self.address in (None, "0.0.0.0")  # noqa: S104 - not a bind address
        return self.direction in ("sendonly", "inactive") or hold_address


def negotiate(description: SessionDescription,
              preferred: tuple[int, ...] = (PCMU, PCMA)) -> Negotiated:
    """Choose the audio stream's codec and DTMF payload type from the peer's SDP.

    Raises:
        NotAcceptable: no audio stream, or none of our codecs.
    """
    for media in description.media:
        if media.kind != "audio" or not media.proto.startswith("RTP/AVP"):
            continue
        rtpmap = media.rtpmap()
        offered: list[int] = []
        for fmt in media.formats:
            if fmt.isdigit():
                offered.append(int(fmt))
        codec = None
        # The offerer's order wins (RFC 3264 §6.1), among codecs we support.
        for pt in offered:
            enc = rtpmap.get(pt, CODECS.get(pt, "")).upper()
            if (enc.startswith("PCMU/8000") and PCMU in preferred) or (
                    enc.startswith("PCMA/8000") and PCMA in preferred):
                codec = pt
            if codec is not None:
                break
        if codec is None:
            continue
        dtmf = next((pt for pt in offered
                     if rtpmap.get(pt, "").lower().startswith("telephone-event/8000")), None)
        address = media.connection or description.connection
        direction = media.direction or description.direction
        ptime_text = next(iter(media.attribute("ptime")), None) or ""
        ptime = int(ptime_text) if ptime_text.isdigit() else 20
        encoding = rtpmap.get(codec, CODECS.get(codec, "")).split("/")[0].upper()
        return Negotiated(address, media.port, codec, dtmf, direction, ptime, encoding)
    raise NotAcceptable("no audio stream with PCMU or PCMA")


def codec_name(pt: int, description: SessionDescription | None = None) -> str:
    if description is not None:
        for media in description.media:
            enc = media.rtpmap().get(pt)
            if enc:
                return enc.split("/")[0].upper()
    return CODECS.get(pt, "").split("/")[0]


@dataclass
class LocalMedia:
    """Our side of one call's audio: address, RTP port and the SDP session version."""

    address: str
    port: int
    session_id: int = field(default_factory=lambda: secrets.randbelow(2**31))
    version: int = 0

    def describe(self, formats: list[int], *, dtmf_pt: int | None = TELEPHONE_EVENT,
                 direction: str = "sendrecv", encodings: dict[int, str] | None = None
                 ) -> SessionDescription:
        self.version += 1
        attrs: list[tuple[str, str | None]] = []
        for pt in formats:
            enc = (encodings or {}).get(pt) or CODECS[pt]
            attrs.append(("rtpmap", f"{pt} {enc}"))
        fmt = [str(pt) for pt in formats]
        if dtmf_pt is not None:
            fmt.append(str(dtmf_pt))
            attrs.append(("rtpmap", f"{dtmf_pt} telephone-event/8000"))
            attrs.append(("fmtp", f"{dtmf_pt} 0-16"))
        attrs.append(("ptime", "20"))
        attrs.append((direction, None))
        ip = "IP6" if ":" in self.address else "IP4"
        origin = f"kefu {self.session_id} {self.version} IN {ip} {self.address}"
        return SessionDescription(origin, "kefu", self.address,
                                  [Media("audio", self.port, "RTP/AVP", fmt, None, attrs)])


def build_offer(local: LocalMedia, *, direction: str = "sendrecv") -> SessionDescription:
    """Our offer: PCMU, PCMA, telephone-event/8000 (RFC 4733) at 20 ms."""
    return local.describe([PCMU, PCMA], direction=direction)


def answer(offer: SessionDescription, local: LocalMedia, *,
           hold: bool = False) -> tuple[SessionDescription, Negotiated]:
    """Answer an offer (RFC 3264 §6): one codec, telephone-event if offered, and the
    direction that mirrors the offer's (sendonly → recvonly, inactive → inactive).

    Raises:
        NotAcceptable: nothing we can use in the offer.
    """
    plan = negotiate(offer)
    mirrored = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
    direction = mirrored.get(plan.direction, "sendrecv")
    if hold:
        direction = {"sendrecv": "sendonly", "recvonly": "inactive"}.get(direction, direction)
    encodings: dict[int, str] = {}
    for media in offer.media:
        encodings.update(media.rtpmap())
    encodings = {pt: enc for pt, enc in encodings.items() if pt == plan.payload_type}
    description = local.describe([plan.payload_type], dtmf_pt=plan.dtmf_payload_type,
                                 direction=direction, encodings=encodings)
    # Streams we do not use are rejected with port 0, in the offer's order (§6).
    used = False
    sections: list[Media] = []
    for media in offer.media:
        if (not used and media.kind == "audio" and media.proto.startswith("RTP/AVP")
                and media.port == plan.port):
            sections.append(description.media[0])
            used = True
        else:
            sections.append(Media(media.kind, 0, media.proto, media.formats[:1]))
    description.media = sections
    return description, plan
