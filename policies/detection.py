"""Finding personal data in sampled values, not only in column names.

Pattern detectors with a validity check where one exists (Luhn for cards, ISO 7064 mod 97 for
IBANs, the address parser for IPs) and a given-name list for names in free text. Everything is
offline and deterministic, and each detector is one small function a reviewer can read.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

# What each pattern detector looks for, without the look-arounds that keep a match out of a
# longer token. Together they are also PREFILTER, a regex in the syntax DuckDB's RE2 accepts,
# so a database can pick out the values worth judging from millions of rows in one pass.
_EMAIL_CORE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
_CARD_CORE = r"(?:\d[ -]?){12,18}\d"
_IBAN_CORE = r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"
_PHONE_CORE = r"(?:\+\d{1,3}[ .-]?\d[\d .-]{6,14}\d|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})"
_IPV4_CORE = r"(?:\d{1,3}\.){3}\d{1,3}"
_IPV6_CORE = r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"
# US social security numbers, written with separators: a bare 9-digit run is any number.
_SSN_CORE = r"\d{3}[- ]\d{2}[- ]\d{4}"
# `name [at] example [dot] com`: "at" (or "dot") written out in brackets, ending in a domain.
_AT = r"(?:@|\s*[\[({<]\s*at\s*[\])}>]\s*)"
_DOT = r"(?:\.|\s*[\[({<]\s*dot\s*[\])}>]\s*)"
_TLD = r"(?:com|org|net|edu|gov|mil|int|info|biz|io|app|dev|[a-z]{2})"
_OBFUSCATED_EMAIL_CORE = rf"(?i:[a-z0-9._%+-]+{_AT}[a-z0-9-]+(?:{_DOT}[a-z0-9-]+)*?{_DOT}{_TLD}\b)"
# A street address: "12 Main Street", "Hauptstraße 5", "12 rue de la Paix".
_STREET = (r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|"
           r"Place|Pl|Terrace|Parkway|Pkwy|Highway|Hwy)")
_ADDRESS_CORE = (
    rf"\b\d{{1,6}}[A-Za-z]?\s+(?:[A-Z][a-z]+\.?\s+){{1,4}}{_STREET}\b"
    r"|\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|weg|gasse|platz|allee|damm)\s+\d{1,4}[a-z]?\b"
    r"|\b\d{1,4},?\s+(?:rue|avenue|boulevard|place|chemin|allée|impasse|quai)\s+"
    r"(?:(?:de|du|des|la|le)\s+|l')*[A-ZÉ][\w'-]+")

PREFILTER = "|".join([_EMAIL_CORE, _CARD_CORE, _IBAN_CORE, _PHONE_CORE, _IPV4_CORE,
                      _IPV6_CORE, _SSN_CORE, _OBFUSCATED_EMAIL_CORE, _ADDRESS_CORE])

_EMAIL = re.compile(_EMAIL_CORE)
# Not inside a longer token: a UUID or a hex hash holds runs of digits that are no card.
_CARD = re.compile(rf"(?<![\w-]){_CARD_CORE}(?![\w-])")
_IBAN = re.compile(_IBAN_CORE)
_PHONE = re.compile(rf"(?<![\w+]){_PHONE_CORE}(?!\d)")
_IPV4 = re.compile(rf"(?<![\d.]){_IPV4_CORE}(?![\d.])")
_IPV6 = re.compile(rf"(?<![\w:]){_IPV6_CORE}(?![\w:])")
_SSN = re.compile(rf"(?<![\w-]){_SSN_CORE}(?![\w-])")
_OBFUSCATED_EMAIL = re.compile(_OBFUSCATED_EMAIL_CORE)
_ADDRESS = re.compile(_ADDRESS_CORE)
_NAME_AFTER = r"(?:\s+(?:de|van|von|der|da|di|le|la)){0,2}\s+[A-ZÀ-Þ][a-zà-ÿ]+"
_NAME_BEFORE = r"(?:this is|I am|I'm|my name is|thanks,|regards,|cheers,)\s+"


def _luhn(digits: str) -> bool:
    total = 0
    for i, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    rotated = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rotated)) % 97 == 1


def _cards(text: str) -> list[str]:
    found = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            found.append(match.group())
    return found


def _ips(text: str) -> list[str]:
    found = []
    for match in [*_IPV4.finditer(text), *_IPV6.finditer(text)]:
        try:
            ipaddress.ip_address(match.group())
            found.append(match.group())
        except ValueError:
            continue
    return found


def _ssns(text: str) -> list[str]:
    """Numbers in SSN form that the SSA could have issued (no area 000, 666 or 9xx, no group
    00, no serial 0000)."""
    found = []
    for match in _SSN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        area, group, serial = digits[:3], digits[3:5], digits[5:]
        if area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000":
            found.append(match.group())
    return found


def _obfuscated_emails(text: str) -> list[str]:
    """Addresses with "at" or "dot" spelled out; a plain address is the email detector's."""
    return [m.group() for m in _OBFUSCATED_EMAIL.finditer(text)
            if not _EMAIL.fullmatch(m.group())]


@cache
def given_names() -> tuple[str, ...]:
    """The given-name list, longest first so an alternation prefers "Annabel" to "Anna"."""
    path = Path(__file__).parent / "data" / "first_names.txt"
    return tuple(sorted({word for line in path.read_text(encoding="utf-8").splitlines()
                         if not line.startswith("#") for word in line.split()},
                        key=lambda name: (-len(name), name)))


@cache
def _name_pattern() -> re.Pattern:
    alternatives = "|".join(re.escape(n) for n in given_names())
    return re.compile(rf"\b(?:{alternatives})(?:{_NAME_AFTER}|(?=[.!,]?\s*$))|"
                      rf"(?i:{_NAME_BEFORE})(?-i:(?:{alternatives}))\b")


def _names(text: str) -> list[str]:
    return [m.group() for m in _name_pattern().finditer(text)]


DETECTORS: dict[str, Callable[[str], list[str]]] = {
    "email": lambda text: _EMAIL.findall(text),
    "card_number": _cards,
    "iban": lambda text: [m for m in _IBAN.findall(text) if _iban_valid(m)],
    "phone": lambda text: _PHONE.findall(text),
    "ip_address": _ips,
    "person_name": _names,
    "ssn": _ssns,
    "obfuscated_email": _obfuscated_emails,
    "postal_address": lambda text: [m.group() for m in _ADDRESS.finditer(text)],
}


def mask(value: str) -> str:
    """Enough of a value to recognise its shape in a report, never the value itself."""
    return value[:2] + "…" if len(value) > 4 else "…"


# The kinds a full scan judges: the rest (names) need a dictionary no prefilter can stand for.
FULL_SCAN_KINDS = tuple(kind for kind in DETECTORS if kind != "person_name")


@dataclass
class Findings:
    sampled: int = 0  # values looked at
    hits: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    scope: str = "sampled"  # which values: "sampled", or "loaded" for every row at load time

    @property
    def detected(self) -> bool:
        return bool(self.hits)


def scan(values: Iterable[object]) -> Findings:
    """Run every detector over the sampled values of one column, once per distinct value
    (a column of country codes or statuses repeats a few values many times)."""
    return scan_counted(Counter(str(value) for value in values if value is not None).items())


def scan_counted(counted: Iterable[tuple[object, int]],
                 kinds: Iterable[str] = tuple(DETECTORS)) -> Findings:
    """Like `scan`, over distinct values with how many rows hold each."""
    detectors = [(kind, DETECTORS[kind]) for kind in kinds]
    findings = Findings()
    for value, rows in counted:
        if value is None:
            continue
        findings.sampled += rows
        text = str(value)
        for name, detector in detectors:
            matches = detector(text)
            if matches:
                findings.hits[name] = findings.hits.get(name, 0) + rows
                findings.examples.setdefault(name, mask(matches[0]))
    return findings
