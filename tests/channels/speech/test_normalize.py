"""Reading out numbers, dates, times, amounts and phone numbers in Chinese and English."""

from __future__ import annotations

import pytest

from kefu.channels.speech.normalize import en_cardinal, normalize, zh_cardinal


@pytest.mark.parametrize(("text", "spoken"), [
    ("2026年11月21日", "二〇二六年十一月二十一日"),
    ("2026-11-21", "二〇二六年十一月二十一日"),
    ("¥1,234.50", "一千二百三十四元五角"),
    ("￥0.05", "五分"),
    ("您的余额为123.05元", "您的余额为一百二十三元零五分"),
    ("请拨打13812345678", "请拨打幺三八幺二三四五六七八"),
    ("热线0756-2211000", "热线零七五六二二幺幺零零零"),
    ("共1004人", "共一千零四人"),
    ("打八折,即80%", "打八折,即百分之八十"),
    ("营业时间08:30至17:05", "营业时间八点三十分至十七点零五分"),
    ("第3.5期", "第三点五期"),
    ("3月8日", "三月八日"),
])
def test_chinese(text: str, spoken: str) -> None:
    assert normalize(text, "zh_CN") == spoken


@pytest.mark.parametrize(("number", "words"), [
    (0, "零"), (10, "十"), (15, "十五"), (110, "一百一十"), (1004, "一千零四"),
    (10010, "一万零一十"), (100000, "十万"), (120000000, "一亿二千万"), (100000001, "一亿零一"),
])
def test_chinese_cardinals(number: int, words: str) -> None:
    assert zh_cardinal(number) == words


@pytest.mark.parametrize(("text", "spoken"), [
    ("2026-11-21", "November twenty-first, twenty twenty-six"),
    ("$1,234.50", "one thousand two hundred thirty-four dollars and fifty cents"),
    ("$1.01", "one dollar and one cent"),
    ("¥88", "eighty-eight yuan"),
    ("call 138-1234-5678 now", "call one three eight one two three four five six seven eight now"),
    ("open at 9:05", "open at nine oh five"),
    ("3.5 km", "three point five km"),
    ("80% off", "eighty percent off"),
    ("we served 2,000,001 users", "we served two million one users"),
])
def test_english(text: str, spoken: str) -> None:
    assert normalize(text, "en_US") == spoken


def test_cantonese_reads_like_chinese() -> None:
    assert normalize("¥5", "yue") == "五元"
    assert normalize("¥5", "zh_HK") == "五元"


def test_other_languages_are_unchanged() -> None:
    assert normalize("잔액 1000원", "ko") == "잔액 1000원"


def test_english_cardinals() -> None:
    assert en_cardinal(0) == "zero"
    assert en_cardinal(1_000_000_000) == "one billion"
    assert en_cardinal(999) == "nine hundred ninety-nine"
