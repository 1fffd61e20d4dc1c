"""One set of redaction patterns: the dbt macro is generated from policies/redaction.py. The
redacted tickets are built incrementally, and a changed pattern reaches every stored row."""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.lib.governance.redaction_macro import MACRO_PATH, render
from orchestration.lib.warehouse import store_path
from policies.detection import scan
from policies.redaction import redaction_rules
from tests.dbt_cli import DBT_PROJECT, project_copy, run_dbt

REDACTED = "intermediate.int_tickets_redacted"
SET_ASIDE = "set aside by the test"


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


def _build_redacted_tickets(project: Path, scratch: Path, *extra: str) -> None:
    """dbt builds int_tickets_redacted alone in the eu store of this test's data folder."""
    done = run_dbt("build", scratch, "--select", "int_tickets_redacted", *extra, region="eu",
                   project=project)
    assert done.returncode == 0, done.stdout[-3000:]


def _store() -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(store_path("eu")))


def _redacted(con, ticket_id: int) -> str | None:
    found = con.execute(f"SELECT body_redacted FROM {REDACTED} WHERE ticket_id = ?",
                        [ticket_id]).fetchall()
    return found[0][0] if found else None


def _set_aside(con, ticket_id: int) -> None:
    """A stored row no build would write: it stays only while its ticket is not redacted
    again."""
    con.execute(f"UPDATE {REDACTED} SET body_redacted = ? WHERE ticket_id = ?",
                [SET_ASIDE, ticket_id])


def test_a_build_redacts_only_new_or_changed_tickets_and_drops_gone_ones(built_copy,
                                                                        tmp_path):
    with _store() as con:
        untouched, changed, gone = [row[0] for row in con.execute(
            "SELECT ticket_id FROM raw_support.tickets ORDER BY ticket_id LIMIT 3").fetchall()]
        _set_aside(con, untouched)
        con.execute("UPDATE raw_support.tickets SET body = body || ' Write to jo.doe@example.com'"
                    " WHERE ticket_id = ?", [changed])
        con.execute("DELETE FROM raw_support.tickets WHERE ticket_id = ?", [gone])
    _build_redacted_tickets(DBT_PROJECT, tmp_path)
    with _store() as con:
        assert _redacted(con, untouched) == SET_ASIDE  # not redacted again: nothing changed
        assert _redacted(con, changed).endswith("Write to [EMAIL]")
        assert _redacted(con, gone) is None
        [(stored, staged)] = con.execute(
            f"SELECT (SELECT count(*) FROM {REDACTED}), "
            "(SELECT count(*) FROM staging.stg_support__tickets)").fetchall()
    assert stored == staged


def _with_a_new_rule(folder: Path) -> Path:
    """A copy of the dbt project whose DuckDB redaction also hides invoice numbers."""
    project = project_copy(folder)
    macro = project / "macros" / MACRO_PATH.name
    head, duckdb_variant, rest = macro.read_text(encoding="utf-8").partition(
        "{% macro default__steward_redact(text) -%}")
    rest = rest.replace("{{ text }}", "regexp_replace({{ text }}, 'invoice [0-9]+', "
                        "'invoice [REF]', 'g')", 1)
    macro.write_text(head + duckdb_variant + rest, encoding="utf-8")
    return project


def test_a_changed_redaction_rule_redacts_every_stored_ticket_again(built_copy, tmp_path):
    with _store() as con:
        [(untouched,)] = con.execute("SELECT min(ticket_id) FROM raw_support.tickets").fetchall()
        _set_aside(con, untouched)
        [(built_before,)] = con.execute(f"SELECT DISTINCT _built_with FROM {REDACTED}").fetchall()
    project = _with_a_new_rule(tmp_path)
    _build_redacted_tickets(project, tmp_path)
    every_row = f"SELECT * FROM {REDACTED} ORDER BY ticket_id"
    with _store() as con:
        built_with = {row[0] for row in con.execute(f"SELECT _built_with FROM {REDACTED}")
                      .fetchall()}
        assert len(built_with) == 1 and built_before not in built_with
        assert _redacted(con, untouched) != SET_ASIDE
        [(hidden, shown)] = con.execute(
            "SELECT count(*) FILTER (WHERE body_redacted LIKE '%invoice [REF]%'), count(*) "
            f"FILTER (WHERE regexp_matches(body_redacted, 'invoice [0-9]')) FROM {REDACTED}"
        ).fetchall()
        assert hidden > 0 and shown == 0
        incremental = con.execute(every_row).fetchall()
    _build_redacted_tickets(project, tmp_path, "--full-refresh")
    with _store() as con:
        assert con.execute(every_row).fetchall() == incremental
