"""Hostile input: links out of the landing zone, file names and identifiers carrying SQL,
YAML bombs and oversized files, a 200 MB export whose only defect is near its end, and fuzzed
CSV, JSON and policy files. Each gets a clear error or quarantine; nothing is lost or run."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.lib.settings import get_settings
from orchestration.lib.sources import SourceDeclarationError, load_source_tables
from policies.rules import POLICIES_DIR, PolicyFileError, load_rules
from tests.clock import moment, stamp
from tests.conftest import use_data_dir
from tests.orchestration.ingest_helpers import (
    CUSTOMER_HEADER,
    customer_ids,
    customer_row,
    load,
    quarantine,
    spec,
    store_rows,
    write_customers,
)

CANARY = "SELECT count(*) FROM raw_crm.customers"


def test_a_link_out_of_the_landing_zone_is_refused_and_never_read(landing, tmp_path):
    secret = tmp_path / "outside" / "secrets.csv"
    secret.parent.mkdir()
    secret.write_text(f"{CUSTOMER_HEADER}\n{customer_row(666)}\n")
    write_customers(landing, "good.csv", [customer_row(1)])
    (landing / "crm" / "customers" / "evil.csv").symlink_to(secret)
    report = load()
    assert customer_ids("us") == [1]
    assert "link" in report.files_refused["crm/customers/evil.csv"]
    assert all("666" not in str(row) for row in quarantine())


def test_a_linked_parquet_export_is_refused_and_never_read(tiny_estate, tmp_path):
    folder = tiny_estate / "billing" / "invoices"
    first, *rest = sorted(folder.glob("*.parquet"))
    outside = tmp_path / "outside.parquet"
    shutil.move(first, outside)
    first.symlink_to(outside)
    report = load("billing.invoices")
    assert "link" in report.files_refused[f"billing/invoices/{first.name}"]
    [(expected,)] = duckdb.sql(f"SELECT count(*) FROM read_parquet({[str(p) for p in rest]})"
                               ).fetchall()
    assert sum(report.table_rows.values()) == expected > 0  # nothing of the linked file


@pytest.mark.parametrize(("name", "why"), [
    ("..%2F..%2Fetc%2Fpasswd.csv", "hidden file name"),
    ("..\\..\\windows\\customers.csv", "hidden file name"),
    (".customers.csv", "hidden file name"),
    ("customers.zip", "archives are not unpacked"),
    ("customers.tar.gz", "archives are not unpacked"),
    ("manifest.json", "not a csv export"),
    ("customers.csv.txt", "not a csv export"),
])
def test_nothing_in_a_landing_folder_is_ignored_quietly(landing, name, why):
    write_customers(landing, "good.csv", [customer_row(1)])
    write_customers(landing, name, [customer_row(2)])
    report = load()
    assert customer_ids("us") == [1]
    assert why in report.files_refused[f"crm/customers/{name}"]
    assert [(file, reason) for file, _, reason, _ in quarantine()] == [
        (f"crm/customers/{name}", report.files_refused[f"crm/customers/{name}"])]
    assert load().files_refused == {}  # known by its fingerprint: not read or warned again


def test_an_empty_file_first_in_its_folder_is_refused_and_the_rest_load(landing):
    write_customers(landing, "a_empty.csv", b"")
    write_customers(landing, "b.csv", [customer_row(1)])
    report = load()
    assert customer_ids("us") == [1] and report.reconciled
    assert "empty" in report.files_refused["crm/customers/a_empty.csv"]


def test_a_byte_order_mark_and_crlf_line_ends_are_encoding_not_drift(landing):
    lines = [CUSTOMER_HEADER, customer_row(1), customer_row(2, country="DE")]
    write_customers(landing, "excel.csv", ("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    report = load()
    assert report.files_refused == {} and report.reconciled
    assert customer_ids("us") == [1] and customer_ids("eu") == [2]  # every column typed


def test_a_text_key_spelled_null_or_blank_is_an_empty_key(landing):
    from dataclasses import replace

    from orchestration.lib.ingest.loader import load_table

    customers = spec("crm.customers")
    text_key = replace(customers, columns=tuple(
        replace(c, data_type="VARCHAR") if c.name == "customer_id" else c
        for c in customers.columns))
    write_customers(landing, "batch.csv", [customer_row("c1"), customer_row("NULL"),
                                           customer_row('" null "')])
    report = load_table(text_key, ["eu", "us"], run_id="test")
    assert report.reconciled and report.rows_quarantined == 2
    assert store_rows("us", "SELECT customer_id FROM raw_crm.customers") == [("c1",)]
    assert [reason for _, _, reason, _ in quarantine()] == [
        "primary key customer_id is empty"] * 2


def test_every_quarantined_row_names_its_file_and_line(landing):
    write_customers(landing, "batch.csv", [
        customer_row(1), "", customer_row("x"), customer_row(""), customer_row(3, country="XX"),
        customer_row(4), customer_row(4, name="Other Name")])
    report = load()
    assert report.reconciled and customer_ids("us") == [1]
    assert [(file, line) for file, line, _, _ in quarantine()] == [
        ("crm/customers/batch.csv", line) for line in (4, 5, 6, 7, 8)]  # line 3 is blank


def test_each_stored_row_traces_to_the_file_it_came_from(landing):
    write_customers(landing, "day1.csv", [customer_row(1)])
    write_customers(landing, "day2.csv", [customer_row(2)])
    load()
    assert store_rows("us", "SELECT customer_id, _load_id FROM raw_crm.customers ORDER BY 1") == [
        (1, "test:crm/customers/day1.csv"), (2, "test:crm/customers/day2.csv")]
    assert store_rows("us", "SELECT file, load_id FROM _steward.loaded_files ORDER BY 1") == [
        ("crm/customers/day1.csv", "test:crm/customers/day1.csv"),
        ("crm/customers/day2.csv", "test:crm/customers/day2.csv")]


def test_an_instant_with_a_utc_offset_is_stored_in_utc(landing):
    local = moment(-30).replace(microsecond=0)
    offsets = {1: "+02:00", 2: "-05:30", 3: "Z"}
    write_customers(landing, "batch.csv", [
        customer_row(n, updated_at=f"{local:%Y-%m-%dT%H:%M:%S}{offset}")
        for n, offset in offsets.items()] + [customer_row(4, updated_at=f"{local:%Y-%m-%d}T25:99")])
    report = load()
    assert report.reconciled
    stored = dict(store_rows("us", "SELECT customer_id, updated_at FROM raw_crm.customers"))
    assert stored == {1: local - timedelta(hours=2), 2: local + timedelta(hours=5, minutes=30),
                      3: local}
    [(_, line, reason, _)] = quarantine()
    assert line == 5 and "updated_at" in reason


def test_an_instant_with_a_utc_offset_in_json_lines_is_stored_in_utc(landing):
    local = moment(-1).replace(microsecond=0)
    folder = landing / "web" / "events"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_text(json.dumps({
        "event_id": 1, "customer_id": 1, "ip_address": "10.0.0.1", "geo_country": "US",
        "event_type": "view", "page": "/",
        "occurred_at": f"{local:%Y-%m-%dT%H:%M:%S}+02:00"}) + "\n")
    assert load("web.events").reconciled
    assert store_rows("us", "SELECT occurred_at FROM raw_web.events") == [
        (local - timedelta(hours=2),)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_nul_byte_in_a_field_is_quarantined_not_stored(landing, fmt):
    if fmt == "csv":
        write_customers(landing, "batch.csv", [customer_row(1), customer_row(2, name="Ann\0Ex")])
        report = load()
        stored = customer_ids("us")
    else:
        folder = landing / "web" / "events"
        folder.mkdir(parents=True)
        rows = [{"event_id": n, "customer_id": 1, "ip_address": "10.0.0.1", "geo_country": "US",
                 "event_type": "view", "page": page, "occurred_at": stamp(-1)}
                for n, page in ((1, "/"), (2, "/a\u0000b"))]
        (folder / "events.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        report = load("web.events")
        stored = [n for (n,) in store_rows("us", "SELECT event_id FROM raw_web.events")]
    assert report.reconciled and stored == [1]
    [(_, line, reason, record)] = quarantine()
    assert line == (3 if fmt == "csv" else 2) and reason.startswith("a NUL byte in ")
    assert "\\u0000" in record


def test_each_load_is_in_the_audit_log_with_where_its_rows_went(landing):
    from orchestration.lib.governance import audit_log

    write_customers(landing, "day1.csv", [customer_row(1), customer_row(2, country="DE"),
                                          customer_row(3, country="XX")])
    write_customers(landing, "day2.csv", [customer_row(4, updated_at=stamp(-10)),
                                          customer_row(1, updated_at=stamp(-5))])
    write_customers(landing, "day3.zip", [customer_row(5)])
    load()
    entries = {e.details["file"]: e for e in audit_log.entries() if e.kind == "ingest.file"}
    assert set(entries) == {f"crm/customers/day{n}" for n in ("1.csv", "2.csv", "3.zip")}
    assert entries["crm/customers/day1.csv"].details["rows"] == {
        "read": 3, "loaded_eu": 1, "loaded_us": 0, "quarantined": 1, "superseded": 1,
        "unchanged": 0}  # customer 1's row here was superseded by day2's
    assert entries["crm/customers/day2.csv"].details["rows"]["loaded_us"] == 2
    refused = entries["crm/customers/day3.zip"].details
    assert "archives" in refused["refused"]
    assert refused["rows"] == {"read": 0, "loaded_eu": 0, "loaded_us": 0, "unchanged": 0}
    assert all(e.subject == "crm.customers" and e.details["fingerprint"] for e in entries.values())
    assert audit_log.verify_log()[1] == []
    load()  # nothing new: nothing more to record
    assert sum(e.kind == "ingest.file" for e in audit_log.entries()) == 3


def test_pii_planted_in_a_large_table_is_found_by_the_scan_at_load(landing, dbt_manifest):
    import dagster as dg

    from orchestration.lib.governance.policy_checks import evaluate_policy

    rows = [customer_row(n) for n in range(20_000)]
    rows[7_777] = rows[7_777].replace(",smb,", ",write to jo.doe@example.com,")
    rows[15_001] = rows[15_001].replace(",smb,", ",card 4111 1111 1111 1111,")
    write_customers(landing, "big.csv", rows)
    assert load().reconciled
    key, relation = dg.AssetKey(["crm", "customers"]), ("raw_crm", "customers")
    sampled = evaluate_policy(key, relation, ["eu", "us"])
    assert sampled.passed  # a sample of 500 rows misses two rows in 20,000
    scanned = evaluate_policy(key, relation, ["eu", "us"], loaded=True)
    assert not scanned.passed
    assert "segment" in scanned.description and "every loaded row" in (
        scanned.metadata["pii_scan"].value)
    report = scanned.metadata["violations"].value
    assert "card_number in 1 of 20000 loaded values" in report
    assert "email in 1 of 20000 loaded values" in report and "jo.doe" not in report


def _tickets(landing: Path, rows: list[tuple[str, str]]) -> None:
    folder = landing / "support" / "tickets"
    folder.mkdir(parents=True)
    (folder / "tickets.csv").write_text(
        "ticket_id,customer_id,customer_country,opened_at,channel,priority,subject,body,status\n"
        + "".join(f"{n},{customer},{country},{stamp(-2)},email,low,Hi,Help,open\n"
                  for n, (customer, country) in enumerate(rows, start=1)))


def test_an_empty_or_orphan_foreign_key_is_reported_by_a_check(landing):
    from orchestration.defs.ingest.assets import _reference_result
    from orchestration.lib.ingest.references import check_references

    write_customers(landing, "c.csv", [customer_row(1), customer_row(2, country="DE")])
    _tickets(landing, [("1", "US"), ("2", "US"), ("", "US"), ("999", "DE")])
    load()
    assert load("support.tickets").reconciled  # loaded: a late customer export may resolve it
    [report] = check_references(spec("support.tickets"), ["eu", "us"])
    assert (report.rows, report.empty, report.orphans) == (4, 1, 1)  # customer 2 is in eu
    result = _reference_result([report])
    assert not result.passed and result.severity.value == "WARN"
    assert result.description == ("customer_id → crm.customers.customer_id: 1 empty and 1 "
                                  "found in no region, of 4 rows")


def test_foreign_keys_that_all_resolve_pass_the_check(landing):
    from orchestration.defs.ingest.assets import _reference_result
    from orchestration.lib.ingest.references import check_references

    write_customers(landing, "c.csv", [customer_row(1), customer_row(2, country="DE")])
    _tickets(landing, [("1", "US"), ("2", "DE")])
    load()
    load("support.tickets")
    assert _reference_result(check_references(spec("support.tickets"), ["eu", "us"])).passed


def test_a_folder_inside_the_table_folder_is_refused_not_skipped(landing):
    write_customers(landing, "good.csv", [customer_row(1)])
    (landing / "crm" / "customers" / "2024").mkdir()
    report = load()
    assert "not a file" in report.files_refused["crm/customers/2024"]


def test_each_refused_file_is_registered_with_its_own_fingerprint(landing):
    from orchestration.lib.ingest.landing import discover

    write_customers(landing, "a.zip", [customer_row(1)])  # refused on sight
    write_customers(landing, "b.csv", ["1,2"], header="wrong,columns")  # refused when read
    write_customers(landing, "c.zip", [customer_row(2), customer_row(3)])
    assert set(load().files_refused) == {f"crm/customers/{n}" for n in ("a.zip", "b.csv",
                                                                        "c.zip")}
    expected = {(f.name, f.fingerprint) for f in discover(spec("crm.customers"), landing)}
    with duckdb.connect(str(get_settings().quarantine_store), read_only=True) as con:
        registered = set(con.execute("SELECT file, fingerprint FROM refused_files").fetchall())
    assert registered == expected


@pytest.mark.parametrize("name", [
    "x'); DROP TABLE raw_crm.customers; --.csv",
    'x"; ATTACH \'evil.duckdb\' AS e; --.csv',
    "$(touch pwned).csv",
    "ünïcødé ✓ export.csv",
])
def test_a_file_name_carrying_sql_or_shell_is_just_a_name(landing, name):
    write_customers(landing, "first.csv", [customer_row(1)])
    load()
    write_customers(landing, name, [customer_row(2), "3,broken"])
    report = load()
    assert customer_ids("us") == [1, 2] and store_rows("us", CANARY) == [(2,)]
    assert report.rows_quarantined == 1 and report.reconciled
    assert [row[0] for row in quarantine()] == [f"crm/customers/{name}"]
    assert not Path("pwned").exists() and not Path("evil.duckdb").exists()


def test_a_header_naming_sql_is_refused_as_drift(landing):
    write_customers(landing, "first.csv", [customer_row(1)])
    load()
    header = CUSTOMER_HEADER.replace("segment", 'segment" VARCHAR); DROP TABLE raw_crm.x; --')
    write_customers(landing, "evil.csv", [customer_row(2)], header=header)
    report = load()
    assert "evil.csv" in next(iter(report.files_refused))
    assert store_rows("us", CANARY) == [(1,)]


def _declare(folder: Path, text: str) -> Path:
    path = folder / "models" / "staging" / "shop" / "_shop__sources.yml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return folder / "models"


SOURCE = """
version: 2
sources:
  - name: {source}
    config: {{meta: {{steward: {{owner: shop-team}}}}}}
    tables:
      - name: {table}
        config: {{meta: {{steward: {{format: csv, primary_key: id, route_by: country}}}}}}
        columns:
          - {{name: id, data_type: INTEGER}}
          - {{name: country, data_type: VARCHAR}}
"""


@pytest.mark.parametrize(("source", "table"), [
    ("shop; DROP TABLE x", "orders"), ("shop", "orders\"; DROP TABLE x; --"),
    ("shop", "../../etc/passwd")])
def test_source_and_table_names_carrying_sql_are_refused(tmp_path, source, table):
    models = _declare(tmp_path, SOURCE.format(source=json.dumps(source),
                                              table=json.dumps(table)))
    with pytest.raises(SourceDeclarationError, match=r"is not allowed|must be a folder inside"):
        load_source_tables(models)


@pytest.mark.parametrize("target", ["crm.nowhere.id", "shop.orders.no_such_column", "id"])
def test_a_foreign_key_to_nothing_declared_is_refused(tmp_path, target):
    text = SOURCE.format(source="shop", table="orders").replace(
        "{name: id, data_type: INTEGER}",
        f"{{name: id, data_type: INTEGER, config: {{meta: {{references: {target}}}}}}}")
    with pytest.raises(SourceDeclarationError, match=f"references '{target}': name a declared"):
        load_source_tables(_declare(tmp_path, text))


def test_a_yaml_bomb_in_a_source_declaration_is_refused(tmp_path):
    bomb = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nsources: [*c, *c, *c, *c, *c]\n")
    with pytest.raises(SourceDeclarationError, match="anchors and aliases"):
        load_source_tables(_declare(tmp_path, bomb))


def test_an_oversized_source_declaration_is_refused(tmp_path):
    models = _declare(tmp_path, "# padding\n" * 200_000)
    with pytest.raises(SourceDeclarationError, match="larger than"):
        load_source_tables(models)


@pytest.mark.parametrize(("file", "content", "message"), [
    ("consumers.yaml", b"consumers:\n  x: \xff\xfe\n", "not UTF-8"),
    ("purposes.yaml", b"#" * 1_000_001, "larger than"),
    ("regions.yaml", b"regions: [unclosed\n", "not valid YAML"),
    ("classifications.yaml", b"=", "not valid YAML"),  # YAML's `value` tag: no safe constructor
    # edits of the shipped file: (what, what instead)
    ("consumers.yaml", ("[marts/customer_features]", "[\"marts/x'; DROP TABLE y; --\"]"),
     "is not an asset key"),
    ("consumers.yaml", ("lead_scoring:\n    team", "\"lead; DROP TABLE y\":\n    team"),
     "not a valid name"),
])
def test_a_malformed_policy_file_is_a_clear_error(rules_dir, file, content, message):
    if isinstance(content, tuple):
        old, new = content
        content = (rules_dir / file).read_text().replace(old, new, 1).encode()
    (rules_dir / file).write_bytes(content)
    with pytest.raises(PolicyFileError, match=message) as raised:
        load_rules(rules_dir)
    assert raised.value.path.name == file


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=8), children, max_size=4), max_leaves=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(file=st.sampled_from(sorted(p.name for p in POLICIES_DIR.glob("*.yaml"))),
       document=YAML_VALUES | st.binary(max_size=200))
def test_the_policy_loader_refuses_any_garbage_with_a_policy_error(file, document):
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for path in POLICIES_DIR.glob("*.yaml"):
            shutil.copy(path, folder / path.name)
        text = document if isinstance(document, bytes) else yaml.safe_dump(
            document, allow_unicode=True).encode()
        (folder / file).write_bytes(text)
        try:
            load_rules(folder)
        except PolicyFileError as error:
            assert error.path.name == file and str(error)


@contextmanager
def _fresh_data_dir():
    """A throwaway data folder for one fuzzed example (hypothesis reruns the test body)."""
    with tempfile.TemporaryDirectory() as scratch, pytest.MonkeyPatch.context() as monkeypatch:
        yield use_data_dir(Path(scratch), monkeypatch) / "landing"


def _stored() -> int:
    return sum(store_rows(region, CANARY)[0][0] for region in ("eu", "us")
               if (Path(os.environ["STEWARD_STORE_DIR"]) / f"{region}.duckdb").exists())


FIELD = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
# Instants as exports write them: plain, with an offset or Z, and with an offset no one can read.
INSTANT = st.builds(lambda days, offset: moment(days).strftime("%Y-%m-%dT%H:%M:%S") + offset,
                    st.integers(-400, 0), st.sampled_from(["", "Z", "+02:00", "-05:30", "+2:0x"]))
# Names a landing folder may hold: an export, and what must be refused with the reason.
FILE_NAME = st.sampled_from(["fuzz.csv", "fuzz.CSV", ".fuzz.csv", "..%2F..%2Ffuzz.csv",
                             "fuzz.zip", "fuzz.tar.gz", "fuzz.csv.txt"])


def _stored_text_with_nul() -> int:
    text = " OR ".join(f"contains({c}, chr(0))" for c in ("full_name", "email", "segment"))
    return sum(store_rows(region, f"{CANARY} WHERE {text}")[0][0] for region in ("eu", "us")
               if (Path(os.environ["STEWARD_STORE_DIR"]) / f"{region}.duckdb").exists())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(
    st.builds(customer_row, st.integers(-5, 50), st.sampled_from(["US", "DE", "XX", ""]), FIELD,
              updated_at=INSTANT),
    st.lists(st.one_of(FIELD, st.just("a\x00b")), max_size=14).map(",".join),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1"))), min_size=1, max_size=12),
    name=FILE_NAME, bom=st.booleans(), crlf=st.booleans())
def test_fuzzed_csv_is_loaded_or_quarantined_and_always_reconciles(lines, name, bom, crlf,
                                                                   dbt_manifest):
    with _fresh_data_dir() as landing:
        text = ("\r\n" if crlf else "\n").join([CUSTOMER_HEADER, *lines]) + "\n"
        write_customers(landing, name, (("\ufeff" if bom else "") + text).encode())
        report = load()
        assert report.reconciled, report
        assert _stored() == sum(report.table_rows.values())
        assert _stored_text_with_nul() == 0
        if name.startswith(".") or not name.lower().endswith(".csv"):
            assert list(report.files_refused) == [f"crm/customers/{name}"]
            assert _stored() == 0
        elif not report.files_refused:
            assert report.rows_read >= 1


YESTERDAY = stamp(-1)  # inside the 90 days
JSON_ROW = st.fixed_dictionaries(
    {"event_id": st.one_of(st.integers(-3, 30), FIELD, st.none()),
     "customer_id": st.one_of(st.integers(0, 30), FIELD),
     "ip_address": FIELD, "geo_country": st.sampled_from(["US", "DE", "ZZ", None]),
     "event_type": st.one_of(FIELD, st.just("click\x00")), "page": FIELD,
     "occurred_at": st.one_of(st.just(YESTERDAY), INSTANT, FIELD)},
    optional={"extra": FIELD})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.one_of(JSON_ROW.map(json.dumps), FIELD), min_size=1, max_size=12))
def test_fuzzed_json_lines_are_loaded_or_quarantined_and_always_reconcile(rows, dbt_manifest):
    with _fresh_data_dir() as landing:
        folder = landing / "web" / "events"
        folder.mkdir(parents=True)
        (folder / "fuzz.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        report = load("web.events")
        assert report.reconciled, report
        stored = sum(store_rows(region, "SELECT count(*) FROM raw_web.events WHERE "
                                        "contains(event_type, chr(0))")[0][0]
                     for region in ("eu", "us"))
        assert stored == 0
        if not report.files_refused:
            assert report.rows_read >= 1


BIG_ROWS = 2_400_000  # about 200 MB of customer rows


def test_a_200_mb_file_with_one_bad_line_near_its_end_loses_nothing(landing):
    folder = landing / "crm" / "customers"
    folder.mkdir(parents=True)
    path = folder / "huge.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(CUSTOMER_HEADER + "\n")
        for start in range(0, BIG_ROWS, 100_000):
            handle.write("".join(customer_row(i) + "\n"
                                 for i in range(start, min(start + 100_000, BIG_ROWS))
                                 if i != BIG_ROWS - 7))
            if start + 100_000 >= BIG_ROWS:
                handle.write(customer_row("not-a-key") + "\n")
    assert path.stat().st_size > 200 * 2**20
    report = load()
    assert report.reconciled and report.rows_quarantined == 1
    assert report.rows_read == BIG_ROWS
    assert store_rows("us", CANARY) == [(BIG_ROWS - 1,)]
    [(file, line, reason, _)] = quarantine()
    assert file == "crm/customers/huge.csv" and line == BIG_ROWS + 1 and "customer_id" in reason
