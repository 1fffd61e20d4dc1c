"""One set of redaction patterns: the dbt macro is generated from policies/redaction.py."""

from __future__ import annotations

import duckdb

from orchestration.lib.governance.redaction_macro import MACRO_PATH, render
from policies.detection import scan
from policies.redaction import redaction_rules


def test_the_dbt_macro_is_generated_from_the_policy_patterns():
    assert MACRO_PATH.read_text(encoding="utf-8") == render(), (
        "dbt_project/macros/steward_redact.sql is out of date: run "
        "python -m orchestration.lib.governance.redaction_macro")


def test_each_kind_of_personal_data_is_replaced():
    text = ("Hi, this is Chloé de Vries (chloe.devries7@example.com, +49 30 1234567). Card "
            "4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, from 10.1.2.3. Thanks, "
            "Anna. Invoice 12 at 10:30 is wrong.")
    sql, params = "?", [text]
    for pattern, replacement in redaction_rules():
        sql = f"regexp_replace({sql}, ?, ?, 'g')"
        params += [pattern, replacement]
    redacted = duckdb.connect().execute(f"SELECT {sql}", params).fetchone()[0]
    assert redacted == ("Hi, this is [NAME] ([EMAIL], [PHONE]). Card [CARD], IBAN [IBAN], "
                        "from [IP]. Thanks, [NAME]. Invoice 12 at 10:30 is wrong.")
    assert not scan([redacted]).detected
