"""Text normalization for reading out: numbers, dates, times, amounts and phone numbers.

Engines read digits inconsistently (espeak-ng reads "2026" in Mandarin as a cardinal, edge-tts
guesses), so kefu writes them out before synthesis, the way a person on the phone says them:

- Chinese: ``2026年11月21日`` → 二〇二六年十一月二十一日, ``¥1,234.50`` → 一千二百三十四元五角,
  ``13812345678`` → 幺三八幺二三四五六七八 (digit by digit; 1 is read 幺 in phone numbers),
  ``80%`` → 百分之八十, ``3.5`` → 三点五, ``08:30`` → 八点三十分;
- English: ``2026-11-21`` → November twenty-first, twenty twenty-six, ``$1,234.50`` → one
  thousand two hundred thirty-four dollars and fifty cents, phone numbers digit by digit.

A run of seven or more digits (spaces or dashes between groups allowed) is a phone or account
number and is read digit by digit; shorter numbers and numbers with thousands separators are
amounts. Other languages are returned unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable

ZH_DIGITS = "零一二三四五六七八九"
ZH_YEAR_DIGITS = "〇一二三四五六七八九"
ZH_PHONE_DIGITS = "零幺二三四五六七八九"
EN_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
           "eighteen", "nineteen"]
EN_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
EN_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth",
              "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}
EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December"]
EN_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"),
               "¥": ("yuan", "yuan", "fen", "fen"), "￥": ("yuan", "yuan", "fen", "fen"),
               "€": ("euro", "euros", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence")}

# 7+ digits, optionally grouped by single spaces or dashes (138-1234-5678, 0756 1234567)
PHONE = r"(?<![\d.,])\+?\d(?:[- ]?\d){6,}(?![\d.,])"
AMOUNT = r"(?P<sym>[$¥￥€£])\s?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d{1,2}))?"
NUMBER = r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"


def language_of(locale: str) -> str:
    """``zh`` for Chinese locales (Mandarin, Cantonese), ``en`` for English, else the prefix."""
    lang = locale.replace("-", "_").split("_")[0].lower()
    return "zh" if lang in {"zh", "cmn", "yue"} else lang


def normalize(text: str, locale: str) -> str:
    """``text`` with numbers, dates, times, amounts and phone numbers written out in words of
    ``locale``'s language (Chinese and English; other languages unchanged)."""
    lang = language_of(locale)
    if lang == "zh":
        return _apply(text, _ZH_RULES)
    if lang == "en":
        return re.sub(r"\s{2,}", " ", _apply(text, _EN_RULES)).strip()
    return text


def _apply(text: str, rules: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]]) -> str:
    for pattern, replace in rules:
        text = pattern.sub(replace, text)
    return text


# ----------------------------------------------------------------------------- Chinese


def zh_cardinal(n: int) -> str:
    """一千二百三十四, 十五, 一百一十, 一千零四, 两… is not used: 二 reads unambiguously."""
    if n == 0:
        return "零"
    if n < 0:
        return "负" + zh_cardinal(-n)
    parts: list[str] = []
    groups = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    units = ["", "万", "亿", "万亿"]
    zero_pending = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            zero_pending = bool(parts)
            continue
        if parts and (zero_pending or group < 1000):
            parts.append("零")
        parts.append(_zh_under_10000(group, leading=not parts) + units[index])
        zero_pending = False
    return "".join(parts)


def _zh_under_10000(n: int, leading: bool) -> str:
    out = ""
    zero = False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        if value == 10 and digit == 1 and not out and leading:
            out += "十"  # 十五, not 一十五, at the start of a number
        else:
            out += ZH_DIGITS[digit] + unit
    return out


def _zh_number(m: re.Match[str]) -> str:
    whole = zh_cardinal(int(m.group("int").replace(",", "")))
    frac = m.group("frac")
    return whole + ("点" + "".join(ZH_DIGITS[int(d)] for d in frac) if frac else "")


def _zh_amount(m: re.Match[str]) -> str:
    yuan = int(m.group("int").replace(",", ""))
    frac = (m.group("frac") or "").ljust(2, "0")
    jiao, fen = int(frac[0]), int(frac[1])
    # ¥0.50 is 五角, not 零元五角
    out = zh_cardinal(yuan) + "元" if yuan or not (jiao or fen) else ""
    if jiao:
        out += ZH_DIGITS[jiao] + "角"
    if fen:
        out += ("零" if not jiao and yuan else "") + ZH_DIGITS[fen] + "分"
    if not jiao and not fen:
        out += "整" if m.group("frac") else ""
    return out


def _zh_yuan_suffix(m: re.Match[str]) -> str:
    return _zh_amount(m)


def _zh_date(m: re.Match[str]) -> str:
    year = "".join(ZH_YEAR_DIGITS[int(d)] for d in m.group("y"))
    return f"{year}年{zh_cardinal(int(m.group('m')))}月{zh_cardinal(int(m.group('d')))}日"


def _zh_month_day(m: re.Match[str]) -> str:
    return f"{zh_cardinal(int(m.group('m')))}月{zh_cardinal(int(m.group('d')))}{m.group('suffix')}"


def _zh_time(m: re.Match[str]) -> str:
    hour, minute = int(m.group("h")), int(m.group("min"))
    if minute == 0:
        return f"{zh_cardinal(hour)}点"
    return f"{zh_cardinal(hour)}点{'零' if minute < 10 else ''}{zh_cardinal(minute)}分"


def _zh_phone(m: re.Match[str]) -> str:
    digits = [c for c in m.group(0) if c.isdigit()]
    return "".join(ZH_PHONE_DIGITS[int(d)] for d in digits)


def _zh_percent(m: re.Match[str]) -> str:
    return "百分之" + _zh_number(m)


_ZH_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*(?:日|号)"), _zh_date),
    (re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)"), _zh_date),
    (re.compile(r"(?P<y>\d{4})\s*年"), lambda m: "".join(ZH_YEAR_DIGITS[int(d)]
                                                        for d in m.group("y")) + "年"),
    (re.compile(r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*(?P<suffix>日|号)"), _zh_month_day),
    (re.compile(r"(?<![\d:])(?P<h>[01]?\d|2[0-3]):(?P<min>[0-5]\d)(?![\d:])"), _zh_time),
    (re.compile(AMOUNT), _zh_amount),
    (re.compile(NUMBER.replace("(?P<int>", "(?P<int>", 1) + r"\s*元"), _zh_yuan_suffix),
    (re.compile(PHONE), _zh_phone),
    (re.compile(NUMBER + "%"), _zh_percent),
    (re.compile(r"(?<![\d.])" + NUMBER), _zh_number),
]


# ----------------------------------------------------------------------------- English


def en_cardinal(n: int) -> str:
    """one thousand two hundred thirty-four."""
    if n < 0:
        return "minus " + en_cardinal(-n)
    if n < 20:
        return EN_ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return EN_TENS[tens] + (f"-{EN_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{EN_ONES[hundreds]} hundred" + (f" {en_cardinal(rest)}" if rest else "")
    for value, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= value:
            high, rest = divmod(n, value)
            return f"{en_cardinal(high)} {word}" + (f" {en_cardinal(rest)}" if rest else "")
    raise AssertionError(n)  # pragma: no cover - every n >= 1000 matched above


def en_ordinal(n: int) -> str:
    """twenty-first, eleventh, one hundredth."""
    words = en_cardinal(n)
    head, sep, last = words.rpartition("-" if "-" in words.split(" ")[-1] else " ")
    if last in EN_ORDINAL:
        last = EN_ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def en_year(year: int) -> str:
    """twenty twenty-six, nineteen oh five, two thousand eight."""
    if 2000 <= year < 2010 or year % 1000 == 0:
        return en_cardinal(year)
    high, low = divmod(year, 100)
    if low == 0:
        return f"{en_cardinal(high)} hundred"
    return f"{en_cardinal(high)} {'oh ' if low < 10 else ''}{en_cardinal(low)}"


def _en_date(m: re.Match[str]) -> str:
    month = int(m.group("m"))
    if not 1 <= month <= 12:
        return m.group(0)
    return f"{EN_MONTHS[month - 1]} {en_ordinal(int(m.group('d')))}, {en_year(int(m.group('y')))}"


def _en_amount(m: re.Match[str]) -> str:
    one, many, small_one, small_many = EN_CURRENCY[m.group("sym")]
    whole = int(m.group("int").replace(",", ""))
    cents = int((m.group("frac") or "0").ljust(2, "0"))
    out = f"{en_cardinal(whole)} {one if whole == 1 else many}"
    if cents:
        out += f" and {en_cardinal(cents)} {small_one if cents == 1 else small_many}"
    return out


def _en_number(m: re.Match[str]) -> str:
    whole = en_cardinal(int(m.group("int").replace(",", "")))
    frac = m.group("frac")
    return whole + (" point " + " ".join(EN_ONES[int(d)] for d in frac) if frac else "")


def _en_phone(m: re.Match[str]) -> str:
    return " ".join(EN_ONES[int(c)] for c in m.group(0) if c.isdigit())


def _en_time(m: re.Match[str]) -> str:
    hour, minute = int(m.group("h")), int(m.group("min"))
    if minute == 0:
        return f"{en_cardinal(hour)} o'clock"
    return f"{en_cardinal(hour)} {'oh ' if minute < 10 else ''}{en_cardinal(minute)}"


_EN_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"(?<!\d)(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?!\d)"), _en_date),
    (re.compile(r"(?<![\d:])(?P<h>[01]?\d|2[0-3]):(?P<min>[0-5]\d)(?![\d:])"), _en_time),
    (re.compile(AMOUNT), _en_amount),
    (re.compile(PHONE), _en_phone),
    (re.compile(NUMBER + r"\s?%"), lambda m: _en_number(m) + " percent"),
    (re.compile(r"(?<![\d.])" + NUMBER), _en_number),
]
