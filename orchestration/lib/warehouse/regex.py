"""The policy's RE2 patterns in each engine's regular-expression dialect.

DuckDB speaks RE2, as the policy is written. PostgreSQL speaks its own ARE: `\\b` is a backspace
there (`\\y` is the word boundary), and Unicode classes are POSIX classes, which follow the
database's character type (a UTF-8 locale such as C.UTF-8 makes "é" a letter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from orchestration.lib.warehouse.sql import sql_literal

# RE2 spelling → ARE spelling; a bracket expression keeps the class without its own brackets.
_ARE = (
    (r"[\p{L}", r"[[:alpha:]"),
    (r"\P{L}", r"[^[:alpha:]]"),
    (r"\p{Lu}", r"[[:upper:]]"),
    (r"\b", r"\y"),
)
_UNTRANSLATED = (r"\p", r"\P", r"\x{", r"\z", r"(?P<", r"(?i")


class UntranslatableRegexError(ValueError):
    """A pattern using RE2 syntax that has no translation to the engine's dialect yet."""


def postgres_regex(pattern: str) -> str:
    """`pattern` (RE2) as a PostgreSQL ARE matching the same text."""
    translated = pattern
    for re2, are in _ARE:
        translated = translated.replace(re2, are)
    translated = _unicode_escapes(translated)
    if left := [token for token in _UNTRANSLATED if token in translated]:
        raise UntranslatableRegexError(
            f"pattern {pattern!r} uses {', '.join(left)}, which has no PostgreSQL translation "
            "here: rewrite it with classes both dialects share, or teach warehouse/regex.py")
    return translated


def redaction_expression(expression: str, rules: Iterable[tuple[str, str]],
                         translate: Callable[[str], str] = str) -> str:
    """`expression` with each (pattern, replacement) applied in order, as nested
    `regexp_replace` calls with the patterns inline, translated to the engine's dialect."""
    for pattern, replacement in rules:
        expression = (f"regexp_replace({expression}, {sql_literal(translate(pattern))}, "
                      f"{sql_literal(replacement)}, 'g')")
    return expression


def _unicode_escapes(pattern: str) -> str:
    r"""RE2's \x{2019} is ARE's \u2019."""
    out, rest = [], pattern
    while (start := rest.find(r"\x{")) >= 0:
        end = rest.index("}", start)
        out.append(rest[:start] + r"\u" + rest[start + 3:end].rjust(4, "0"))
        rest = rest[end + 1:]
    return "".join(out) + rest
