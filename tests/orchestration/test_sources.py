"""Source declarations load from dbt's YAML, and a bad one is refused with where and why."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestration.lib.sources import SourceDeclarationError, load_source_tables


def test_the_sample_estate_declares_five_governed_tables():
    tables = {t.name: t for t in load_source_tables()}
    assert set(tables) == {"crm.customers", "billing.invoices", "billing.payments",
                           "support.tickets", "web.events"}
    customers = tables["crm.customers"]
    assert customers.primary_key == ("customer_id",) and customers.cursor == "updated_at"
    assert customers.column("email").classification == "personal"
    assert tables["billing.invoices"].retention == "10y"  # inherited from the source


def _declare(tmp_path: Path, table: dict, columns: list[dict]) -> Path:
    folder = tmp_path / "models" / "staging" / "shop"
    folder.mkdir(parents=True)
    document = {"version": 2, "sources": [{
        "name": "shop", "config": {"meta": {"steward": {"owner": "shop-team"}}},
        "tables": [{"name": "orders", "columns": columns,
                    "config": {"meta": {"steward": table}}}],
    }]}
    (folder / "_shop__sources.yml").write_text(yaml.safe_dump(document))
    return tmp_path / "models"


GOOD_TABLE = {"format": "csv", "primary_key": "order_id", "route_by": "country"}
GOOD_COLUMNS = [{"name": "order_id", "data_type": "BIGINT"},
                {"name": "country", "data_type": "VARCHAR"}]


def test_a_new_source_is_one_declaration(tmp_path):
    [orders] = load_source_tables(_declare(tmp_path, GOOD_TABLE, GOOD_COLUMNS))
    assert orders.name == "shop.orders" and orders.landing == "shop/orders"
    assert orders.owner == "shop-team" and orders.schema == "shop"


@pytest.mark.parametrize(
    ("table", "columns", "message"),
    [
        ({**GOOD_TABLE, "format": "xlsx"}, GOOD_COLUMNS, "format must be one of"),
        ({**GOOD_TABLE, "primary_key": "id"}, GOOD_COLUMNS, "primary_key ('id',) must name"),
        ({**GOOD_TABLE, "route_by": "region"}, GOOD_COLUMNS, "route_by 'region' must name"),
        ({**GOOD_TABLE, "landing": "../../etc"}, GOOD_COLUMNS, "must be a folder inside"),
        (GOOD_TABLE, [*GOOD_COLUMNS, {"name": "note"}], "column 'note' needs a data_type"),
        (GOOD_TABLE, [*GOOD_COLUMNS, {"name": "x", "data_type": "INT); DROP TABLE t; --"}],
         "unsupported data_type"),
        (GOOD_TABLE, [*GOOD_COLUMNS, {"name": 'x"; DROP TABLE t; --', "data_type": "INT"}],
         "is not allowed"),
    ],
    ids=["format", "key", "route", "traversal", "type-missing", "type-injection",
         "name-injection"],
)
def test_a_bad_declaration_names_the_file_and_the_fix(tmp_path, table, columns, message):
    with pytest.raises(SourceDeclarationError) as raised:
        load_source_tables(_declare(tmp_path, table, columns))
    assert "_shop__sources.yml" in str(raised.value) and message in str(raised.value)
