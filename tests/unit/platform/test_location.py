"""Caller location from the number prefix: every country code, China's mobile carriers and
city area codes, UK area codes, and national numbers read in the tenant's country."""

from __future__ import annotations

import pytest

from kefu.platform.customers.location import (
    COUNTRY_CODES,
    country_of_time_zone,
    locate,
    to_e164,
)


@pytest.mark.parametrize(("number", "country", "e164"), [
    ("+86 138-0013-8000", None, "+8613800138000"),
    ("008613800138000", "CN", "+8613800138000"),
    ("13800138000", "CN", "+8613800138000"),
    ("8613800138000", "CN", "+8613800138000"),
    ("010 6552 9988", "CN", "+861065529988"),
    ("07700 900123", "GB", "+447700900123"),
    ("(415) 555-0123", "US", "+14155550123"),
    ("011 44 20 7946 0000", "US", "+442079460000"),
    ("tel:+441632960000", None, "+441632960000"),
])
def test_numbers_in_every_format_become_e164(number: str, country: str | None,
                                             e164: str) -> None:
    assert to_e164(number, country) == e164


def test_national_numbers_need_a_country_and_short_ones_are_not_numbers() -> None:
    assert to_e164("010 6552 9988", None) is None
    assert to_e164("110", "CN") is None
    assert locate("visitor-7f3a", "CN") is None


@pytest.mark.parametrize(("number", "carrier"), [
    ("+8613800138000", "China Mobile"), ("+8618612345678", "China Unicom"),
    ("+8618912345678", "China Telecom"), ("+8619212345678", "China Broadnet"),
    ("+8617012345678", "Virtual operator (MVNO)"), ("+8619912345678", "China Telecom"),
])
def test_china_mobile_prefixes_name_the_carrier(number: str, carrier: str) -> None:
    where = locate(number)
    assert where is not None
    assert (where.country, where.carrier, where.line, where.city) == (
        "China", carrier, "mobile", None)


@pytest.mark.parametrize(("number", "region", "city"), [
    ("010 8888 0000", "Beijing", "Beijing"), ("021 5555 1234", "Shanghai", "Shanghai"),
    ("020 3333 1234", "Guangdong", "Guangzhou"), ("0755 8888 1234", "Guangdong", "Shenzhen"),
    ("023 6666 1234", "Chongqing", "Chongqing"), ("022 2222 1234", "Tianjin", "Tianjin"),
    ("028 8888 1234", "Sichuan", "Chengdu"), ("027 8888 1234", "Hubei", "Wuhan"),
    ("029 8888 1234", "Shaanxi", "Xi'an"), ("025 8888 1234", "Jiangsu", "Nanjing"),
    ("0571 8888 1234", "Zhejiang", "Hangzhou"),
])
def test_chinese_city_area_codes(number: str, region: str, city: str) -> None:
    where = locate(number, "CN")
    assert where is not None
    assert (where.country_code, where.region, where.city, where.line) == ("CN", region, city,
                                                                          "fixed")


def test_uk_area_codes_and_ranges() -> None:
    london = locate("+44 20 7946 0000")
    manchester = locate("0161 496 0000", "GB")
    mobile = locate("+447700900123")
    demo = locate("+441632960000")
    assert london is not None
    assert (london.city, london.region) == ("London", "England")
    assert manchester is not None
    assert manchester.city == "Manchester"
    assert mobile is not None
    assert (mobile.line, mobile.city) == ("mobile", None)
    assert demo is not None
    assert demo.country == "United Kingdom"
    assert demo.line == "fixed"


def test_every_country_code_and_the_nanp_split() -> None:
    assert len(COUNTRY_CODES) > 200
    assert {iso for iso, _name in COUNTRY_CODES.values()} >= {"CN", "GB", "US", "DE", "JP",
                                                               "BR", "NG", "IN", "FJ"}
    cases = {"+4930123456": "Germany", "+81312345678": "Japan", "+85291234567": "Hong Kong",
             "+886212345678": "Taiwan", "+2348012345678": "Nigeria",
             "+16135550123": "Canada", "+18765550123": "Jamaica",
             "+14155550123": "United States", "+77012345678": "Kazakhstan",
             "+74951234567": "Russia"}
    for number, country in cases.items():
        where = locate(number)
        assert (where.country if where else None) == country, number
    sf = locate("+14155550123")
    assert sf is not None
    assert sf.city == "San Francisco"


def test_tenant_country_from_its_time_zone() -> None:
    assert country_of_time_zone("Asia/Shanghai") == "CN"
    assert country_of_time_zone("Europe/London") == "GB"
    assert country_of_time_zone("UTC") is None
    assert country_of_time_zone(None) is None
