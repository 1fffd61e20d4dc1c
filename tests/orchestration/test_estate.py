"""The sample estate is deterministic, sized as asked, spread over regions and carries PII."""

from __future__ import annotations

import hashlib

import duckdb

from orchestration.lib.estate import generate_estate


def _digest(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.*"))}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    generate_estate(tmp_path / "a", customers=50, files=2, seed=5)
    generate_estate(tmp_path / "b", customers=50, files=2, seed=5)
    generate_estate(tmp_path / "c", customers=50, files=2, seed=6)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_sizes_formats_and_files_per_source(tmp_path):
    counts = generate_estate(tmp_path, customers=200, files=3)
    assert counts == {"crm.customers": 200, "billing.invoices": 600, "billing.payments": 500,
                      "support.tickets": 160, "web.events": 1000}
    assert len(list((tmp_path / "crm" / "customers").glob("*.csv"))) == 3
    assert len(list((tmp_path / "billing" / "invoices").glob("*.parquet"))) == 3
    assert len(list((tmp_path / "web" / "events").glob("*.jsonl"))) == 3


def test_customers_live_in_both_regions_and_tickets_carry_pii(tmp_path):
    generate_estate(tmp_path, customers=300, files=1)
    with duckdb.connect() as con:
        countries = {c for (c,) in con.execute(
            f"SELECT DISTINCT country FROM read_csv('{tmp_path}/crm/customers/*.csv')").fetchall()}
        bodies = con.execute(
            f"SELECT count(*) FILTER (WHERE body LIKE '%@%'), "
            f"count(*) FILTER (WHERE regexp_matches(body, '\\d{{4}} \\d{{4}} \\d{{4}} \\d{{4}}'))"
            f" FROM read_csv('{tmp_path}/support/tickets/*.csv')").fetchone()
        ips = con.execute(f"SELECT count(*) FROM read_json('{tmp_path}/web/events/*.jsonl') "
                          f"WHERE regexp_matches(ip_address, '^\\d+\\.\\d+\\.\\d+\\.\\d+$')"
                          ).fetchone()[0]
    assert "US" in countries and countries & {"DE", "FR", "NL", "IE", "ES", "IT", "SE", "PL"}
    assert bodies[0] > 0 and bodies[1] > 0 and ips == 1500
