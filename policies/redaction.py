"""Redaction of personal data inside free text, as RE2 patterns any SQL engine with
`regexp_replace` can apply (DuckDB does, in the store, without moving the rows to Python).

Each pattern replaces a kind of personal data by a placeholder, most specific first: an email
before the phone-like digits inside it, a card before a phone. Names are the given-name list of
`detection.py` plus the capitalised words (and particles such as "de" or "van") that follow.
"""

from __future__ import annotations

import re
from functools import cache

from policies.detection import given_names

_PARTICLES = "de|van|von|der|den|da|di|du|le|la|del"


@cache
def redaction_rules() -> tuple[tuple[str, str], ...]:
    """(RE2 pattern, replacement) pairs, applied in order."""
    names = "|".join(re.escape(name) for name in given_names())
    return (
        (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "[EMAIL]"),
        (r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b", "[IBAN]"),
        (r"\b(?:\d[ -]?){12,18}\d\b", "[CARD]"),
        (r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "[IP]"),
        (r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|"
         r"\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?\b",
         "[IP]"),
        (r"\+?\(?\d[\d ().-]{7,}\d", "[PHONE]"),
        # RE2's \b only knows ASCII letters ("Chloé"), so the letters around a name are
        # matched as "not a letter" and put back through \1 and \2.
        (rf"(^|\P{{L}})(?:{names})(?:\s+(?:(?:{_PARTICLES})\s+)*\p{{Lu}}[\p{{L}}'\x{{2019}}-]*)*"
         r"(\P{L}|$)", r"\1[NAME]\2"),
    )


def mention_pattern(values: list[str]) -> str:
    """An RE2 (and Python) pattern matching any of `values` as a whole word: not inside a longer
    email, name or number ("ann@x.com" leaves "joann@x.com" alone). Group 2 is the value, groups
    1 and 3 the characters around it, which a replacement keeps."""
    alternatives = "|".join(re.escape(value) for value in values)
    return rf"(^|[^A-Za-z0-9_.+@-])({alternatives})($|[^A-Za-z0-9_.@-])"
