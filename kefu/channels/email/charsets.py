"""Charset handling the way real mail needs it: labels that lie, and headers in any charset.

Chinese mail routinely says ``charset=gb2312`` while using characters only GBK or GB18030
have, says ``big5`` for Windows code page 950 text, or sends raw 8-bit header bytes with no
RFC 2047 encoding at all. Mail readers cope by decoding with the superset and by guessing;
so do we. Every function here returns text and never raises on bad bytes.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

# Labels mapped to the codecs tried in order (strict), the first one again with replacement
# characters if none fits. Supersets first: a superset decodes everything the label promises
# and what senders actually put in.
_CODECS_BY_LABEL: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("gb2312", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "euc-cn", "x-euc-cn",
         "gb_2312-80", "csgb2312", "chinese", "gb18030"),
        ("gb18030",),
    ),
    # Hong Kong and Taiwan: HKSCS extends Big5 with the characters names need; Windows senders
    # use code page 950, which has a few characters (e.g. the euro sign) HKSCS lacks.
    **dict.fromkeys(
        ("big5", "x-big5", "csbig5", "cn-big5", "big5-hkscs", "big5hkscs", "cp950",
         "windows-950"),
        ("big5hkscs", "cp950"),
    ),
    **dict.fromkeys(("ks_c_5601-1987", "ks_c_5601", "euc-kr", "ksc5601", "windows-949"),
                    ("cp949",)),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "windows-31j"),
                    ("cp932",)),
    # An ASCII or Latin-1 label on 8-bit text is nearly always UTF-8 or Windows-1252 in truth
    # (browsers decode these labels as Windows-1252 for the same reason).
    **dict.fromkeys(("us-ascii", "ascii", "ansi_x3.4-1968", "iso-8859-1", "latin1",
                     "latin-1", "iso_8859-1", "l1"),
                    ("utf-8", "cp1252")),
    "utf8": ("utf-8",),
    "unicode-1-1-utf-7": ("utf-7",),
    "tis-620": ("cp874",),
}

# When no label is given, or the label is unknown: what is most likely for kefu's users.
GUESS_ORDER: tuple[str, ...] = ("utf-8", "gb18030", "big5hkscs", "cp1252")


def codecs_for(label: str | None) -> tuple[str, ...]:
    """The Python codecs to try for a MIME charset label, best first.

    Args:
        label: the charset label as found in a header (any case), or None.

    Returns:
        Codec names; the guessing order when the label is missing or unknown.
    """
    if not label:
        return GUESS_ORDER
    key = label.strip().strip('"').lower()
    if key in _CODECS_BY_LABEL:
        return _CODECS_BY_LABEL[key]
    try:
        return (codecs.lookup(key).name,)
    except LookupError:
        return GUESS_ORDER


def decode_bytes(data: bytes, label: str | None) -> str:
    """Decode text bytes labelled ``label``, never raising.

    Args:
        data: the bytes.
        label: the declared charset, or None to guess.

    Returns:
        The text; bytes no candidate codec accepts become U+FFFD.
    """
    candidates = codecs_for(label)
    if data.isascii():
        return data.decode("ascii")
    for codec in candidates:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    if candidates != GUESS_ORDER and label and label.lower() not in {"utf-8", "utf8"}:
        # The label is wrong altogether (it happens): a guess beats replacement characters.
        for codec in GUESS_ORDER[:2]:
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                continue
    return data.decode(candidates[0], errors="replace")


# RFC 2047 §2 encoded-word, with the RFC 2231 §5 language suffix. Real mailers put spaces
# inside Q-encoded text, so the text part is anything up to the closing "?=".
_ENCODED_WORD = re.compile(
    r"=\?(?P<charset>[^?*\s]+)(?:\*[^?\s]*)?\?(?P<encoding>[QqBb])\?(?P<text>.*?)\?="
)
_FOLDING = re.compile(r"\r?\n(?=[ \t])")


def _decode_word_bytes(encoding: str, text: str) -> bytes | None:
    raw = text.encode("ascii", errors="surrogateescape")
    if encoding in "Bb":
        if re.search(rb"[^A-Za-z0-9+/=\s]", raw):
            return None  # not base64 at all, only padding may be wrong
        raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
        raw += b"=" * (-len(raw) % 4)
        try:
            return base64.b64decode(raw)
        except (binascii.Error, ValueError):
            return None
    return binascii.a2b_qp(raw, header=True)


def _raw_header_text(text: str, fallback: str | None) -> str:
    """Text outside encoded words: may carry raw 8-bit bytes (smuggled as surrogates)."""
    if text.isascii() or not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", errors="surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return decode_bytes(data, fallback)


def decode_header_value(value: str | None, *, fallback_charset: str | None = None) -> str:
    """Decode a header field body: unfold it and decode RFC 2047 encoded words in any charset.

    Adjacent encoded words in the same charset are joined as bytes before decoding, because
    senders split multibyte characters across words (which RFC 2047 §5 forbids, yet happens);
    whitespace between encoded words is dropped (RFC 2047 §6.2). Raw 8-bit header bytes are
    decoded as UTF-8, else as ``fallback_charset`` (typically the body's charset).

    Args:
        value: the raw field body (after the colon), as the compat32 parser returns it.
        fallback_charset: the charset to try for raw 8-bit bytes.

    Returns:
        The decoded, unfolded text ("" for None).
    """
    if not value:
        return ""
    value = _FOLDING.sub("", value)
    pieces: list[str] = []
    pending: list[tuple[str, bytes]] = []  # consecutive encoded words not yet decoded

    def flush() -> None:
        # Join runs of the same charset so split multibyte sequences decode whole.
        run_charset: str | None = None
        run: bytearray = bytearray()
        for charset, data in pending:
            if run_charset is not None and charset != run_charset:
                pieces.append(decode_bytes(bytes(run), run_charset))
                run = bytearray()
            run_charset = charset
            run += data
        if run_charset is not None:
            pieces.append(decode_bytes(bytes(run), run_charset))
        pending.clear()

    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position:match.start()]
        data = _decode_word_bytes(match["encoding"], match["text"])
        if data is None:  # undecodable word: keep it as written, like mail readers do
            flush()
            pieces.append(_raw_header_text(value[position:match.end()], fallback_charset))
            position = match.end()
            continue
        if between and not (pending and between.isspace()):
            flush()
            pieces.append(_raw_header_text(between, fallback_charset))
        pending.append((match["charset"].lower(), data))
        position = match.end()
    flush()
    pieces.append(_raw_header_text(value[position:], fallback_charset))
    text = "".join(pieces)
    # Control characters in a decoded header are never meant to be seen (and a decoded CR/LF
    # must not turn into a new header line when the text is written out again).
    return re.sub(r"[\x00-\x08\x0a-\x1f\x7f]", " ", text).strip()
