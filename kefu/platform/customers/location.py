"""Where a phone number is from, by its prefix: country for every E.164 country code; for
mainland China the mobile carrier (13x–19x) or the city of a fixed-line area code; for the
UK the geographic area code. Pure functions over compact tables, no database.

Numbers arrive as callers' CLIs do: E.164 (+8613800138000), with an international prefix
(008613800138000) or in national format (013800138000, 010 6552 9988, 020 7946 0000), which
is read in the tenant's country. Number portability means a mobile prefix names the carrier
that issued the range; that is what screen pop shows.
"""

from __future__ import annotations

import functools
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# "code ISO Name", one country per entry. NANP (+1) is refined by area code below.
_COUNTRIES = """
1 US United States|7 RU Russia|20 EG Egypt|27 ZA South Africa|30 GR Greece|31 NL Netherlands
32 BE Belgium|33 FR France|34 ES Spain|36 HU Hungary|39 IT Italy|40 RO Romania
41 CH Switzerland|43 AT Austria|44 GB United Kingdom|45 DK Denmark|46 SE Sweden|47 NO Norway
48 PL Poland|49 DE Germany|51 PE Peru|52 MX Mexico|53 CU Cuba|54 AR Argentina|55 BR Brazil
56 CL Chile|57 CO Colombia|58 VE Venezuela|60 MY Malaysia|61 AU Australia|62 ID Indonesia
63 PH Philippines|64 NZ New Zealand|65 SG Singapore|66 TH Thailand|81 JP Japan
82 KR South Korea|84 VN Vietnam|86 CN China|90 TR Turkey|91 IN India|92 PK Pakistan
93 AF Afghanistan|94 LK Sri Lanka|95 MM Myanmar|98 IR Iran|211 SS South Sudan|212 MA Morocco
213 DZ Algeria|216 TN Tunisia|218 LY Libya|220 GM Gambia|221 SN Senegal|222 MR Mauritania
223 ML Mali|224 GN Guinea|225 CI Côte d'Ivoire|226 BF Burkina Faso|227 NE Niger|228 TG Togo
229 BJ Benin|230 MU Mauritius|231 LR Liberia|232 SL Sierra Leone|233 GH Ghana|234 NG Nigeria
235 TD Chad|236 CF Central African Republic|237 CM Cameroon|238 CV Cape Verde
239 ST São Tomé and Príncipe|240 GQ Equatorial Guinea|241 GA Gabon|242 CG Congo
243 CD DR Congo|244 AO Angola|245 GW Guinea-Bissau|246 IO British Indian Ocean Territory
247 AC Ascension Island|248 SC Seychelles|249 SD Sudan|250 RW Rwanda|251 ET Ethiopia
252 SO Somalia|253 DJ Djibouti|254 KE Kenya|255 TZ Tanzania|256 UG Uganda|257 BI Burundi
258 MZ Mozambique|260 ZM Zambia|261 MG Madagascar|262 RE Réunion|263 ZW Zimbabwe
264 NA Namibia|265 MW Malawi|266 LS Lesotho|267 BW Botswana|268 SZ Eswatini|269 KM Comoros
290 SH Saint Helena|291 ER Eritrea|297 AW Aruba|298 FO Faroe Islands|299 GL Greenland
350 GI Gibraltar|351 PT Portugal|352 LU Luxembourg|353 IE Ireland|354 IS Iceland
355 AL Albania|356 MT Malta|357 CY Cyprus|358 FI Finland|359 BG Bulgaria|370 LT Lithuania
371 LV Latvia|372 EE Estonia|373 MD Moldova|374 AM Armenia|375 BY Belarus|376 AD Andorra
377 MC Monaco|378 SM San Marino|379 VA Vatican City|380 UA Ukraine|381 RS Serbia
382 ME Montenegro|383 XK Kosovo|385 HR Croatia|386 SI Slovenia|387 BA Bosnia and Herzegovina
389 MK North Macedonia|420 CZ Czechia|421 SK Slovakia|423 LI Liechtenstein
500 FK Falkland Islands|501 BZ Belize|502 GT Guatemala|503 SV El Salvador|504 HN Honduras
505 NI Nicaragua|506 CR Costa Rica|507 PA Panama|508 PM Saint Pierre and Miquelon|509 HT Haiti
590 GP Guadeloupe|591 BO Bolivia|592 GY Guyana|593 EC Ecuador|594 GF French Guiana
595 PY Paraguay|596 MQ Martinique|597 SR Suriname|598 UY Uruguay|599 CW Curaçao
670 TL Timor-Leste|672 NF Norfolk Island|673 BN Brunei|674 NR Nauru|675 PG Papua New Guinea
676 TO Tonga|677 SB Solomon Islands|678 VU Vanuatu|679 FJ Fiji|680 PW Palau
681 WF Wallis and Futuna|682 CK Cook Islands|683 NU Niue|685 WS Samoa|686 KI Kiribati
687 NC New Caledonia|688 TV Tuvalu|689 PF French Polynesia|690 TK Tokelau|691 FM Micronesia
692 MH Marshall Islands|850 KP North Korea|852 HK Hong Kong|853 MO Macao|855 KH Cambodia
856 LA Laos|880 BD Bangladesh|886 TW Taiwan|960 MV Maldives|961 LB Lebanon|962 JO Jordan
963 SY Syria|964 IQ Iraq|965 KW Kuwait|966 SA Saudi Arabia|967 YE Yemen|968 OM Oman
970 PS Palestine|971 AE United Arab Emirates|972 IL Israel|973 BH Bahrain|974 QA Qatar
975 BT Bhutan|976 MN Mongolia|977 NP Nepal|992 TJ Tajikistan|993 TM Turkmenistan
994 AZ Azerbaijan|995 GE Georgia|996 KG Kyrgyzstan|998 UZ Uzbekistan
"""


def _parse_countries() -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    by_code: dict[str, tuple[str, str]] = {}
    code_of: dict[str, str] = {}
    for entry in _COUNTRIES.replace("\n", "|").split("|"):
        if entry.strip():
            code, iso, name = entry.strip().split(" ", 2)
            by_code[code] = (iso, name)
            code_of.setdefault(iso, code)
    return by_code, code_of


#: E.164 country code → (ISO 3166 alpha-2, English name); ISO → country code.
COUNTRY_CODES, CALLING_CODE = _parse_countries()
CALLING_CODE.update({"CA": "1", "KZ": "7"})
COUNTRY_NAMES = dict(COUNTRY_CODES.values())
COUNTRY_NAMES.update({"CA": "Canada", "KZ": "Kazakhstan"})

# NANP area codes that are not the United States.
_NANP = {
    "CA": "204 226 236 249 250 263 289 306 343 354 365 367 368 382 403 416 418 428 431 437 "
          "438 450 468 474 506 514 519 548 579 581 584 587 604 613 639 647 672 683 705 709 "
          "742 753 778 780 782 807 819 825 867 873 879 902 905",
    "BS": "242", "BB": "246", "AI": "264", "AG": "268", "VG": "284", "VI": "340", "KY": "345",
    "BM": "441", "GD": "473", "TC": "649", "JM": "658 876", "MS": "664", "MP": "670",
    "GU": "671", "AS": "684", "SX": "721", "LC": "758", "DM": "767", "VC": "784",
    "PR": "787 939", "DO": "809 829 849", "TT": "868", "KN": "869",
}
NANP_AREAS = {area: iso for iso, areas in _NANP.items() for area in areas.split()}
_NANP_NAMES = {"BS": "Bahamas", "BB": "Barbados", "AI": "Anguilla", "AG": "Antigua and Barbuda",
               "VG": "British Virgin Islands", "VI": "U.S. Virgin Islands",
               "KY": "Cayman Islands", "BM": "Bermuda", "GD": "Grenada",
               "TC": "Turks and Caicos Islands", "JM": "Jamaica", "MS": "Montserrat",
               "MP": "Northern Mariana Islands", "GU": "Guam", "AS": "American Samoa",
               "SX": "Sint Maarten", "LC": "Saint Lucia", "DM": "Dominica",
               "VC": "Saint Vincent and the Grenadines", "PR": "Puerto Rico",
               "DO": "Dominican Republic", "TT": "Trinidad and Tobago",
               "KN": "Saint Kitts and Nevis"}
COUNTRY_NAMES.update(_NANP_NAMES)
US_CITIES = {"212": ("New York", "New York"), "213": ("California", "Los Angeles"),
             "202": ("District of Columbia", "Washington"), "305": ("Florida", "Miami"),
             "312": ("Illinois", "Chicago"), "415": ("California", "San Francisco"),
             "617": ("Massachusetts", "Boston"), "206": ("Washington", "Seattle"),
             "713": ("Texas", "Houston"), "404": ("Georgia", "Atlanta")}

# Mainland China mobile number ranges (the first three digits) → the carrier that issued them.
_CN_CARRIERS = {
    "China Mobile": "134 135 136 137 138 139 147 148 150 151 152 157 158 159 165 172 178 182 "
                    "183 184 187 188 195 197 198",
    "China Unicom": "130 131 132 145 146 155 156 166 167 171 175 176 185 186 196",
    "China Telecom": "133 149 153 162 173 174 177 180 181 189 190 191 193 199",
    "China Broadnet": "192",
    "Virtual operator (MVNO)": "170",
}
CN_MOBILE = {prefix: carrier for carrier, prefixes in _CN_CARRIERS.items()
             for prefix in prefixes.split()}
# Fixed-line area codes (without the trunk 0) → (province, city).
CN_AREAS = {
    "10": ("Beijing", "Beijing"), "21": ("Shanghai", "Shanghai"),
    "22": ("Tianjin", "Tianjin"), "23": ("Chongqing", "Chongqing"),
    "20": ("Guangdong", "Guangzhou"), "24": ("Liaoning", "Shenyang"),
    "25": ("Jiangsu", "Nanjing"), "27": ("Hubei", "Wuhan"), "28": ("Sichuan", "Chengdu"),
    "29": ("Shaanxi", "Xi'an"), "755": ("Guangdong", "Shenzhen"),
    "757": ("Guangdong", "Foshan"), "769": ("Guangdong", "Dongguan"),
    "756": ("Guangdong", "Zhuhai"), "760": ("Guangdong", "Zhongshan"),
    "754": ("Guangdong", "Shantou"), "752": ("Guangdong", "Huizhou"),
    "571": ("Zhejiang", "Hangzhou"), "574": ("Zhejiang", "Ningbo"),
    "577": ("Zhejiang", "Wenzhou"), "579": ("Zhejiang", "Jinhua"),
    "575": ("Zhejiang", "Shaoxing"), "512": ("Jiangsu", "Suzhou"), "510": ("Jiangsu", "Wuxi"),
    "519": ("Jiangsu", "Changzhou"), "516": ("Jiangsu", "Xuzhou"),
    "513": ("Jiangsu", "Nantong"), "531": ("Shandong", "Jinan"),
    "532": ("Shandong", "Qingdao"), "535": ("Shandong", "Yantai"),
    "371": ("Henan", "Zhengzhou"), "731": ("Hunan", "Changsha"),
    "791": ("Jiangxi", "Nanchang"), "551": ("Anhui", "Hefei"), "591": ("Fujian", "Fuzhou"),
    "592": ("Fujian", "Xiamen"), "871": ("Yunnan", "Kunming"), "851": ("Guizhou", "Guiyang"),
    "771": ("Guangxi", "Nanning"), "898": ("Hainan", "Haikou"),
    "311": ("Hebei", "Shijiazhuang"), "351": ("Shanxi", "Taiyuan"),
    "471": ("Inner Mongolia", "Hohhot"), "431": ("Jilin", "Changchun"),
    "451": ("Heilongjiang", "Harbin"), "411": ("Liaoning", "Dalian"),
    "931": ("Gansu", "Lanzhou"), "951": ("Ningxia", "Yinchuan"), "971": ("Qinghai", "Xining"),
    "991": ("Xinjiang", "Ürümqi"), "891": ("Tibet", "Lhasa"),
}
# UK geographic area codes (without the trunk 0) → (nation, area).
UK_AREAS = {
    "20": ("England", "London"), "121": ("England", "Birmingham"),
    "113": ("England", "Leeds"), "114": ("England", "Sheffield"),
    "115": ("England", "Nottingham"), "116": ("England", "Leicester"),
    "117": ("England", "Bristol"), "118": ("England", "Reading"),
    "161": ("England", "Manchester"), "151": ("England", "Liverpool"),
    "191": ("England", "Newcastle upon Tyne"), "23": ("England", "Southampton and Portsmouth"),
    "24": ("England", "Coventry"), "1223": ("England", "Cambridge"),
    "1865": ("England", "Oxford"), "1273": ("England", "Brighton"),
    "1904": ("England", "York"), "131": ("Scotland", "Edinburgh"),
    "141": ("Scotland", "Glasgow"), "1224": ("Scotland", "Aberdeen"),
    "29": ("Wales", "Cardiff"), "1792": ("Wales", "Swansea"),
    "28": ("Northern Ireland", "Belfast"),
    # Ofcom's range for drama and examples (the demo tenant's numbers are in it).
    "1632": ("England", "Drama and example numbers (Ofcom)"),
}
# UK non-geographic ranges (without the trunk 0), longest prefix first → line type.
UK_RANGES = {"7624": "mobile", "76": "pager", "70": "personal", "7": "mobile",
             "800": "toll_free", "808": "toll_free", "84": "non_geographic",
             "87": "non_geographic", "9": "premium", "3": "non_geographic"}
#: International call prefixes by country (the ITU default is 00).
IDD = {"US": ("011",), "CA": ("011",), "JP": ("010",), "AU": ("0011",)}


@dataclass(frozen=True)
class Location:
    country: str
    country_code: str  # ISO 3166 alpha-2
    region: str | None = None
    city: str | None = None
    carrier: str | None = None
    line: str | None = None  # mobile, fixed, toll_free, ... when the prefix says
    e164: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_e164(number: str, country: str | None = None) -> str | None:  # noqa: PLR0911
    """``number`` as +digits, reading national format in ``country`` (ISO alpha-2).
    None when it cannot be read (too short, or national with no country to read it in)."""
    raw = (number or "").strip()
    if raw.lower().startswith(("tel:", "sip:")):
        raw = raw.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
    digits = "".join(c for c in raw if c.isdigit())
    if len(digits) < 5:
        return None
    if raw.startswith("+"):
        return "+" + digits
    for prefix in IDD.get(country or "", ("00",)):
        if digits.startswith(prefix):
            return "+" + digits[len(prefix):]
    if country is None or country not in CALLING_CODE:
        return None
    code = CALLING_CODE[country]
    if code == "1":
        if len(digits) == 11 and digits.startswith("1"):
            return "+" + digits
        return "+1" + digits
    if country == "CN" and digits.startswith("86") and len(digits) == 13:
        return "+" + digits  # 86 + an 11-digit mobile, written without the +
    if country == "CN" and len(digits) == 11 and digits[0] == "1":
        return "+86" + digits  # a mobile number: no trunk prefix
    return "+" + code + digits.removeprefix("0")


def _split_country(e164: str) -> tuple[str, str] | None:
    digits = e164.lstrip("+")
    for size in (1, 2, 3):
        if digits[:size] in COUNTRY_CODES:
            return digits[:size], digits[size:]
    return None


def locate(number: str, country: str | None = None) -> Location | None:
    """The location of ``number`` (national format is read in ``country``), or None when
    the number cannot be read or its country code is unknown."""
    e164 = to_e164(number, country)
    if e164 is None:
        return None
    split = _split_country(e164)
    if split is None:
        return None
    code, national = split
    iso, name = COUNTRY_CODES[code]
    if code == "1":
        return _nanp(national, e164)
    if code == "7" and national[:1] in ("6", "7"):
        iso, name = "KZ", "Kazakhstan"
    if code == "86":
        return _china(national, e164)
    if code == "44":
        return _uk(national, e164)
    return Location(name, iso, e164=e164)


def _nanp(national: str, e164: str) -> Location:
    area = national[:3]
    iso = NANP_AREAS.get(area, "US")
    region, city = US_CITIES.get(area, (None, None)) if iso == "US" else (None, None)
    return Location(COUNTRY_NAMES[iso], iso, region, city, e164=e164)


def _china(national: str, e164: str) -> Location:
    if len(national) == 11 and national[0] == "1":
        carrier = CN_MOBILE.get(national[:3])
        return Location("China", "CN", carrier=carrier, line="mobile", e164=e164)
    for size in (2, 3):
        area = CN_AREAS.get(national[:size])
        if area is not None:
            return Location("China", "CN", area[0], area[1], line="fixed", e164=e164)
    return Location("China", "CN", e164=e164)


def _uk(national: str, e164: str) -> Location:
    for size in (4, 3, 2):
        area = UK_AREAS.get(national[:size])
        if area is not None:
            return Location("United Kingdom", "GB", area[0], area[1], line="fixed", e164=e164)
    for prefix in sorted(UK_RANGES, key=len, reverse=True):
        if national.startswith(prefix):
            region = "Isle of Man" if prefix == "7624" else None
            return Location("United Kingdom", "GB", region, line=UK_RANGES[prefix],
                            e164=e164)
    return Location("United Kingdom", "GB", e164=e164)


def _zone_tables() -> list[Path]:
    paths = [Path("/usr/share/zoneinfo/zone.tab")]
    try:
        import tzdata

        paths.append(Path(os.path.dirname(tzdata.__file__)) / "zoneinfo" / "zone.tab")
    except ImportError:  # pragma: no cover - tzdata is optional where the OS has zone.tab
        pass
    return paths


@functools.cache
def _zone_countries() -> dict[str, str]:
    for path in _zone_tables():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        out: dict[str, str] = {}
        for line in lines:
            if line and not line.startswith("#"):
                parts = line.split("\t")
                if len(parts) >= 3:
                    out[parts[2]] = parts[0]
        return out
    return {}


def country_of_time_zone(zone: str | None) -> str | None:
    """The country (ISO alpha-2) of an IANA time zone (Asia/Shanghai → CN), from the tz
    database's zone.tab; None for zones of no one country (UTC)."""
    if not zone:
        return None
    return _zone_countries().get(zone)


__all__ = ["CALLING_CODE", "COUNTRY_CODES", "Location", "country_of_time_zone", "locate",
           "to_e164"]
