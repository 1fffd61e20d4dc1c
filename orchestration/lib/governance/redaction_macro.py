"""Writes the dbt macro `steward_redact` from `policies/redaction.py`, so models redact free
text with exactly the patterns the governed read path applies: `python -m
orchestration.lib.governance.redaction_macro`. A test fails when the macro file is out of date.

The macro dispatches on the adapter: DuckDB takes the policy's RE2 patterns as written,
PostgreSQL their translation to its own regular-expression dialect."""

from __future__ import annotations

from collections.abc import Callable

from orchestration.lib.settings import PROJECT_ROOT
from orchestration.lib.warehouse.regex import postgres_regex, redaction_expression
from policies.redaction import redaction_rules

MACRO_PATH = PROJECT_ROOT / "dbt_project" / "macros" / "steward_redact.sql"
DIALECTS: dict[str, Callable[[str], str]] = {"default": str, "postgres": postgres_regex}


def render() -> str:
    variants = "".join(
        f"\n{{% macro {adapter}__steward_redact(text) -%}}\n"
        f"{redaction_expression('{{ text }}', redaction_rules(), translate)}\n"
        "{%- endmacro %}\n" for adapter, translate in DIALECTS.items())
    return ("{#- Generated from policies/redaction.py by `python -m "
            "orchestration.lib.governance.redaction_macro`: edit the patterns there. -#}\n"
            "{% macro steward_redact(text) -%}\n"
            "    {{ return(adapter.dispatch('steward_redact')(text)) }}\n"
            "{%- endmacro %}\n" + variants)


if __name__ == "__main__":
    MACRO_PATH.write_text(render(), encoding="utf-8")
    print(f"written {MACRO_PATH}")
