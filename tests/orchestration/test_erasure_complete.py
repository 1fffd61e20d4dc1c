"""Erasure on a copy of a built estate, where the subject hides: raw lines in the quarantine,
its email and phone in a text column nobody declared, its rows in the landing files, a model
trained on them, a name another customer shares; and a crash half-way."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from orchestration.lib.governance import erasure
from orchestration.lib.governance.audit_log import entries
from orchestration.lib.governance.erasure import ERASED, erase
from orchestration.lib.governance.suppression import TABLE, erased_ids, register_store
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import store_path, write_connection
from tests.orchestration.ingest_helpers import store_rows


def _customer_with_tickets(region: str, skip: tuple = ()) -> tuple:
    """(id, full name, email, phone, a ticket id) of a customer of `region` with a ticket."""
    excluded = ", ".join(str(s) for s in (-1, *skip))
    return store_rows(region, f"""
        SELECT c.customer_id, c.full_name, c.email, c.phone, min(t.ticket_id)
        FROM raw_crm.customers c JOIN raw_support.tickets t USING (customer_id)
        WHERE c.customer_id NOT IN ({excluded}) GROUP BY ALL ORDER BY 1 LIMIT 1""")[0]


def _landing_rows(source: str, subject: str) -> tuple[int, int]:
    """(the subject's rows, everyone's rows) in a source's landing files."""
    folder = get_settings().landing_dir / source
    with duckdb.connect() as con:
        return con.execute(f"SELECT count(*) FILTER (customer_id = {subject}), count(*) FROM "
                           f"read_csv('{folder}/*.csv', header = true)").fetchone()


@pytest.fixture
def subject(built_copy) -> tuple:
    return _customer_with_tickets("eu")


def test_the_subject_is_found_by_identifiers_in_any_text_and_a_shared_name_is_left(
        subject):
    subject_id, name, email, phone, _ = subject
    other_id, _, _, _, other_ticket = _customer_with_tickets("eu", skip=(subject_id,))
    namesake = _customer_with_tickets("eu", skip=(subject_id, other_id))[0]
    with write_connection(store_path("eu")) as con:
        # The ticket's subject line is not declared free text, yet it names the subject.
        con.execute("UPDATE raw_support.tickets SET subject = ?, body = ? WHERE ticket_id = ?",
                    [f"call {phone} or write {email}", f"{name} said hello",
                     other_ticket])
        con.execute("UPDATE raw_crm.customers SET full_name = ? WHERE customer_id = ?",
                    [name, namesake])
    receipt = erase(str(subject_id))
    assert receipt.remaining == 0
    [(line, body)] = store_rows("eu", f"SELECT subject, body FROM raw_support.tickets "
                                      f"WHERE ticket_id = {other_ticket}")
    assert line == f"call {ERASED} or write {ERASED}"
    # Another customer has the same name: the mention may be theirs, so it stays.
    assert body == f"{name} said hello" and receipt.shared_values_kept >= 1
    assert store_rows("eu", f"SELECT full_name FROM raw_crm.customers "
                            f"WHERE customer_id = {namesake}") == [(name,)]


def test_raw_quarantine_lines_landing_files_and_kept_models_are_erased(subject):
    subject_id, name, email, _, _ = subject
    other_id = _customer_with_tickets("eu", skip=(subject_id,))[0]
    quarantine = get_settings().quarantine_store
    with write_connection(quarantine) as con:
        con.execute("CREATE TABLE IF NOT EXISTS quarantine (source_table VARCHAR, file VARCHAR, "
                    "line BIGINT, reason VARCHAR, record VARCHAR, run_id VARCHAR, "
                    "quarantined_at TIMESTAMP)")
        con.execute("DELETE FROM quarantine")
        for record in (f'{subject_id},"{name}",{email},broken', f'{{"customer_id": '
                       f'"{subject_id}", "note": "x"}}', f"{other_id},Someone Else,broken",
                       f"{other_id},Someone Else,wrote to {email}"):
            con.execute("INSERT INTO quarantine VALUES ('crm.customers', 'f.csv', 2, 'bad', ?, "
                        "'run', now())", [record])
    mine, everyone = _landing_rows("crm/customers", subject_id)
    assert mine > 0
    dry = erase(str(subject_id), dry_run=True)  # reading raw lines no longer crashes
    assert dry.quarantined_deleted == 2 and dry.landing_records

    receipt = erase(str(subject_id))
    assert receipt.remaining == 0 and receipt.quarantined_deleted == 2
    with duckdb.connect(str(quarantine), read_only=True) as con:
        assert sorted(r for (r,) in con.execute("SELECT record FROM quarantine").fetchall()) == [
            f"{other_id},Someone Else,broken", f"{other_id},Someone Else,wrote to {ERASED}"]
    assert _landing_rows("crm/customers", subject_id) == (0, everyone - mine)
    assert _landing_rows("support/tickets", subject_id)[0] == 0
    # Each rewritten file's new fingerprint is in the load log: it is not taken for new.
    for file in receipt.landing_records:
        stat = (get_settings().landing_dir / file).stat()
        assert store_rows("eu", f"SELECT DISTINCT fingerprint FROM _steward.loaded_files "
                                f"WHERE file = '{file}'") == [(f"{stat.st_size}:"
                                                               f"{stat.st_mtime_ns}",)]
    # The models trained on the subject's region are gone; the other region's stay.
    assert receipt.models_dropped["eu"] > 0
    assert store_rows("eu", "SELECT count(*) FROM _steward.consumer_models") == [(0,)]
    assert store_rows("us", "SELECT count(*) FROM _steward.consumer_models")[0][0] > 0


def _register() -> list[tuple]:
    with duckdb.connect(str(register_store()), read_only=True) as con:
        return con.execute(f"SELECT subject_id, status, trace IS NOT NULL FROM {TABLE}"
                           ).fetchall()


def test_an_erasure_cut_short_is_registered_first_and_a_rerun_finishes_it(
        subject, monkeypatch):
    subject_id, _, email, _, _ = subject
    us_ticket = _customer_with_tickets("us")[4]
    with write_connection(store_path("us")) as con:
        con.execute("UPDATE raw_support.tickets SET body = ? WHERE ticket_id = ?",
                    [f"forwarding to {email}", us_ticket])
    real = erasure._erase_in_store

    def power_cut_before_us(region, *args, **kwargs):
        if region == "us":
            raise RuntimeError("power cut")
        return real(region, *args, **kwargs)

    monkeypatch.setattr(erasure, "_erase_in_store", power_cut_before_us)
    with pytest.raises(RuntimeError, match="power cut"):
        erase(str(subject_id))
    # Registered before anything went: no load brings the subject back meanwhile.
    assert str(subject_id) in erased_ids("customer")
    assert _register() == [(str(subject_id), "pending", True)]
    assert store_rows("eu", f"SELECT count(*) FROM raw_crm.customers "
                            f"WHERE customer_id = {subject_id}") == [(0,)]
    kinds = [e.kind for e in entries() if e.subject == f"customer:{subject_id}"]
    assert kinds == ["erasure.started"]

    monkeypatch.setattr(erasure, "_erase_in_store", real)
    # The subject's own rows are gone from eu, so only the registered trace still knows its
    # email, which a us ticket holds.
    receipt = erase(str(subject_id))
    assert receipt.resumed and receipt.remaining == 0
    assert store_rows("us", f"SELECT body FROM raw_support.tickets WHERE ticket_id = "
                            f"{us_ticket}") == [(f"forwarding to {ERASED}",)]
    assert _register() == [(str(subject_id), "done", False)]


def test_a_register_written_before_pending_erasures_still_suppresses(built_copy):
    path: Path = register_store()
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE TABLE {TABLE} (subject VARCHAR, subject_id VARCHAR, "
                    "erased_at TIMESTAMP, receipt VARCHAR)")
        con.execute(f"INSERT INTO {TABLE} VALUES ('customer', '1', now(), 'old')")
    assert erased_ids("customer") == ["1"]
    subject_id = _customer_with_tickets("eu")[0]
    assert erase(str(subject_id)).remaining == 0
    assert sorted(erased_ids("customer")) == sorted(["1", str(subject_id)])
