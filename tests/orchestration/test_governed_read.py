"""The governed read path on a real built estate: denials read nothing, masks hold for every
dataset, column and consumer (a property test), pseudonyms are keyed HMACs, all is audited."""

from __future__ import annotations

import dataclasses
import json
import re
from functools import cache
from unittest import mock

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.lib.governance.audit_log import entries
from orchestration.lib.governance.governed_read import AccessDenied, NotBuilt, read_dataset
from orchestration.lib.governance.pseudonyms import consumer_key, hmac_sql, pseudonym
from orchestration.lib.governance.registry import relations
from orchestration.lib.settings import get_settings
from policies.access import CLEARANCE_DENIED, PASS, REVERSIBLE_HASH
from policies.detection import scan
from policies.rules import Consumer, Purpose, load_rules
from tests.orchestration.ingest_helpers import store_rows
from tests.policies.approved import approving

RULES = load_rules()
HEX = re.compile(r"[0-9a-f]{64}")


@pytest.fixture(scope="module", autouse=True)
def estate(pipeline_run):
    assert pipeline_run[0]


def test_the_sql_hmac_is_rfc_2104_hmac_sha256():
    con = duckdb.connect()
    for key in (b"k", b"\x00" * 32, b"long key " * 20):
        for value in ("female", "anna.smith@example.com", "Zoë", 42):
            sql, params = hmac_sql("?", key)
            assert con.execute(f"SELECT {sql}", [*params, value]).fetchone()[0] == (
                pseudonym(key, value))


def test_an_allowed_read_returns_only_the_consumers_regions_as_arrow():
    table = read_dataset("marts/customer_features", "lead_scoring")
    countries = set(table.column("country_code").to_pylist())
    assert countries == {"US"}
    assert table.num_rows == store_rows("us", "SELECT count(*) FROM marts.customer_features")[0][0]
    decision = json.loads(table.schema.metadata[b"steward.decision"])
    assert decision["regions"] == ["us"]
    last = entries()[-1]
    assert (last.kind, last.subject, last.details["rows"]) == (
        "access.allowed", "marts/customer_features", {"us": table.num_rows})


def test_a_denied_read_reads_nothing_and_is_audited(monkeypatch):
    # Were any store opened, this would fail: the denial must come first.
    monkeypatch.setattr("orchestration.lib.governance.governed_read.held_in", None)
    with pytest.raises(AccessDenied, match=r"consumer\.undeclared_dataset") as denied:
        read_dataset("crm/customers", "lead_scoring")
    assert "Fix: add crm/customers" in str(denied.value)
    last = entries()[-1]
    assert last.kind == "access.denied" and last.details["rule"] == "consumer.undeclared_dataset"
    with pytest.raises(AccessDenied, match=r"consumer\.unknown"):
        read_dataset("crm/customers", "nobody")
    with pytest.raises(AccessDenied, match=r"consumer\.region_denied"):
        read_dataset("marts/ticket_features", "support_routing", regions=["us"])


def _cleared_for(consumer: str, clearance: str):
    """The shipped rules with one consumer's clearance changed."""
    changed = dataclasses.replace(RULES.consumers[consumer], clearance=clearance)
    rules = dataclasses.replace(RULES, consumers={**RULES.consumers, consumer: changed})
    return mock.patch("orchestration.lib.governance.governed_read.load_rules", return_value=rules)


def test_pseudonyms_are_keyed_per_consumer_and_stable():
    with _cleared_for("finance_automation", "pseudonymous"):
        first = read_dataset("crm/customers", "finance_automation", ["customer_id", "email"])
        again = read_dataset("crm/customers", "finance_automation", ["customer_id", "email"])
    assert first.column("email").to_pylist() == again.column("email").to_pylist()
    raw = dict(store_rows("us", "SELECT customer_id, email FROM raw_crm.customers") +
               store_rows("eu", "SELECT customer_id, email FROM raw_crm.customers"))
    key = consumer_key("finance_automation")
    for customer, masked in zip(first.column("customer_id").to_pylist(),
                                first.column("email").to_pylist(), strict=True):
        assert masked == pseudonym(key, raw[customer]) != raw[customer]
    assert consumer_key("finance_automation") != consumer_key("fairness_audit")
    assert entries()[-1].kind == "access.masked"
    assert entries()[-1].details["masked"] == {"email": "keyed_hash"}


def test_a_keyed_hash_of_few_repeated_values_is_never_served():
    # gender is sensitive, finance_automation cleared for personal: it would be keyed-hashed,
    # and three pseudonyms over every customer tell by their counts which gender each hides.
    everything = read_dataset("crm/customers", "finance_automation")
    assert "gender" not in everything.column_names and "email" in everything.column_names
    decision = json.loads(everything.schema.metadata[b"steward.decision"])
    assert decision["suppressed"] == ["gender"]
    assert entries()[-1].details["suppressed"] == ["gender"]
    with pytest.raises(AccessDenied, match=r"consumer\.reversible_hash") as denied:
        read_dataset("crm/customers", "finance_automation", ["customer_id", "gender"])
    assert "reversible by counting" in str(denied.value) and "suppression" in str(denied.value)
    last = entries()[-1]
    assert last.kind == "access.denied" and last.details["rule"] == "consumer.reversible_hash"


def test_free_text_is_redacted_on_read():
    table = read_dataset("support/tickets", "support_routing", ["ticket_id", "body"])
    bodies = [b for b in table.column("body").to_pylist() if b]
    assert bodies and any("[NAME]" in b or "[EMAIL]" in b or "[PHONE]" in b for b in bodies)
    assert not scan(bodies).detected, scan(bodies).hits


def test_a_dataset_not_built_yet_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_STORE_DIR", str(tmp_path / "empty"))
    with pytest.raises(NotBuilt, match="run the pipeline first"):
        read_dataset("marts/customer_features", "lead_scoring")


# --- the property: no masked read ever returns a raw personal value -------------------------

# Datasets kept per region; the global store holds only level-none telemetry and metrics.
DATASETS = sorted(key for key in relations() if not key.startswith(("telemetry/", "platform/")))
LEVELS = list(RULES.levels)


@cache
def _raw(dataset: str, region: str) -> dict[str, list]:
    schema, table = relations()[dataset]
    path = get_settings().region_store(region)
    with duckdb.connect(str(path), read_only=True) as con:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                           "table_schema = ? AND table_name = ?", [schema, table]).fetchone()[0]:
            return {}
        result = con.execute(f'SELECT * FROM "{schema}"."{table}"')
        names = [d[0] for d in result.description]
        return dict(zip(names, map(list, zip(*result.fetchall(), strict=True)), strict=True))


@cache
def _personal_values() -> set[str]:
    """Every raw value of a personal or sensitive column anywhere in the estate (free text
    aside: a whole ticket body is the container, the values inside it are what must go)."""
    found = set()
    effective = _effective()
    for dataset in DATASETS:
        for region in ("eu", "us"):
            for column, values in _raw(dataset, region).items():
                tags = effective[dataset].columns.get(column)
                if (tags and RULES.rank(tags.level) >= RULES.rank("personal")
                        and tags.mask != "redaction"):
                    found |= {str(v) for v in values if v is not None and len(str(v)) > 3}
    return found


@cache
def _effective():
    from orchestration.lib.governance.policy_adapter import project_evaluation

    return project_evaluation().effective


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dataset=st.sampled_from(DATASETS), clearance=st.sampled_from(LEVELS),
       purpose_level=st.sampled_from(LEVELS),
       regions=st.sets(st.sampled_from(["eu", "us"]), min_size=1), data=st.data())
def test_no_masked_read_ever_returns_a_raw_personal_value(dataset, clearance, purpose_level,
                                                          regions, data):
    columns = list(_effective()[dataset].columns)
    chosen = data.draw(st.none() | st.lists(st.sampled_from(columns), min_size=1, unique=True))
    consumer = Consumer("prober", "probers", "probe-lead", "probe", tuple(sorted(regions)),
                        clearance, (dataset,), "testing")
    rules = dataclasses.replace(
        approving(RULES, "prober"), consumers={"prober": consumer},
        purposes={"probe": Purpose("probe", "", purpose_level, False, tuple(DATASETS))})
    with mock.patch("orchestration.lib.governance.governed_read.load_rules", return_value=rules):
        try:
            table = read_dataset(dataset, "prober", chosen)
        except AccessDenied as denied:
            # Everything else is allowed by construction: only a too-low ceiling, or a named
            # column whose keyed hash counting would reverse, may deny.
            assert denied.decision.rule in (CLEARANCE_DENIED, REVERSIBLE_HASH)
            return
        except NotBuilt:
            return
    ceiling = min(RULES.rank(clearance), RULES.rank(purpose_level))
    decision = json.loads(table.schema.metadata[b"steward.decision"])
    assert set(decision["regions"]) == regions
    assert table.num_rows == sum(len(next(iter(_raw(dataset, r).values()), []))
                                 for r in regions)
    for column in decision["columns"]:
        values = [v for v in table.column(column["name"]).to_pylist() if v is not None]
        if column["action"] == PASS:
            assert RULES.rank(column["level"]) <= ceiling
            continue
        assert RULES.rank(column["level"]) > ceiling
        raw = {str(v) for r in regions for v in _raw(dataset, r).get(column["name"], [])}
        for value in values:
            if column["action"] == "keyed_hash":
                assert HEX.fullmatch(value) and value not in raw
            else:
                assert not any(personal in value for personal in _personal_values()), value
        if column["action"] == "redaction":
            assert not scan(values).detected, scan(values).hits


def test_out_into_the_data_folder_is_refused_before_anything_is_read():
    from tests.conftest import run_steward

    data = get_settings().data_dir
    audit = data / "store" / "audit.duckdb"
    before, logged = audit.read_bytes(), len(entries())
    done = run_steward(["read", "marts/customer_features", "--out", str(audit), "--force"],
                       data)
    assert done.returncode == 2 and "inside Steward's data folder" in done.stderr
    assert audit.read_bytes() == before and len(entries()) == logged


def test_rows_past_their_retention_are_never_served(monkeypatch):
    from datetime import timedelta

    from orchestration.lib.settings import current_time

    served = read_dataset("marts/ticket_features", "support_routing")
    monkeypatch.setenv("STEWARD_NOW", "+400d")  # tickets are kept two years
    later = read_dataset("marts/ticket_features", "support_routing")
    withheld = json.loads(later.schema.metadata[b"steward.withheld"])
    assert sum(withheld.values()) > 0
    assert later.num_rows + sum(withheld.values()) == served.num_rows
    cutoff = current_time() - timedelta(days=730)
    assert min(later.column("opened_at").to_pylist()) >= cutoff
    assert entries()[-1].details["withheld_past_retention"] == withheld


@pytest.fixture
def own_stores(tmp_path, monkeypatch):
    """A copy of the built stores: a rule change recorded here stays out of the shared log
    (there it would make every kept model due for retraining)."""
    import shutil

    from tests.conftest import use_data_dir

    shutil.copytree(get_settings().store_dir, tmp_path / "store")
    use_data_dir(tmp_path, monkeypatch)


def test_a_rule_change_is_on_record_before_the_read_it_decides(own_stores, rules_dir,
                                                               monkeypatch):
    read_dataset("marts/customer_features", "lead_scoring")
    before = entries()[-1].details["rules_version"]
    (rules_dir / "purposes.yaml").write_text((rules_dir / "purposes.yaml").read_text()
                                             + "\n# reviewed\n")
    monkeypatch.setenv("STEWARD_POLICIES_DIR", str(rules_dir))
    read_dataset("marts/customer_features", "lead_scoring")
    changed, read = entries()[-2:]
    assert changed.kind == "policy.changed" and changed.details["changed"] == ["purposes.yaml"]
    assert read.kind == "access.allowed"
    assert read.details["rules_version"] == changed.details["version"] != before
