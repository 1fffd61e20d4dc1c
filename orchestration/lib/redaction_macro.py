"""Writes the dbt macro `steward_redact` from `policies/redaction.py`, so models redact free
text with exactly the patterns the governed read path applies: `python -m
orchestration.lib.redaction_macro`. A test fails when the macro file is out of date."""

from __future__ import annotations

from orchestration.lib.settings import PROJECT_ROOT
from orchestration.lib.warehouse import sql_literal
from policies.redaction import redaction_rules

MACRO_PATH = PROJECT_ROOT / "dbt_project" / "macros" / "steward_redact.sql"


def render() -> str:
    sql = "{{ text }}"
    for pattern, replacement in redaction_rules():
        sql = f"regexp_replace({sql}, {sql_literal(pattern)}, {sql_literal(replacement)}, 'g')"
    return ("{#- Generated from policies/redaction.py by `python -m "
            "orchestration.lib.redaction_macro`: edit the patterns there. -#}\n"
            "{% macro steward_redact(text) -%}\n"
            f"{sql}\n"
            "{%- endmacro %}\n")


if __name__ == "__main__":
    MACRO_PATH.write_text(render(), encoding="utf-8")
    print(f"written {MACRO_PATH}")
