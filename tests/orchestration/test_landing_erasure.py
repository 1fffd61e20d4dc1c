"""A subject's records leave the landing files, and nothing else does: other records keep
their bytes, a longer email containing the subject's is someone else's."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib.governance.landing_erasure import erase_from_landing
from tests.orchestration.ingest_helpers import CUSTOMER_HEADER, customer_row, spec

SUBJECT_EMAIL = "ann@x.com"


def test_only_the_subjects_csv_records_go_and_the_rest_keep_their_bytes(landing):
    folder = landing / "crm" / "customers"
    folder.mkdir(parents=True)
    others = [customer_row(1).replace("a1@example.com", f"jo{SUBJECT_EMAIL}"),
              '3,"Multi\r\nline name",c@example.com,+1,1980-01-01,female,US,x,smb,open,y']
    mine = [customer_row(2), f"9,Broken line naming {SUBJECT_EMAIL}"]
    path = folder / "export.csv"
    path.write_bytes("\r\n".join([CUSTOMER_HEADER, others[0], mine[0], others[1], mine[1]])
                     .encode() + b"\r\n")
    counted = erase_from_landing(spec("crm.customers"), "customer_id", "2", [SUBJECT_EMAIL],
                                 delete=False)
    assert counted == {"crm/customers/export.csv": 2} and SUBJECT_EMAIL.encode() in (
        path.read_bytes())
    erase_from_landing(spec("crm.customers"), "customer_id", "2", [SUBJECT_EMAIL], delete=True)
    assert path.read_bytes() == "\r\n".join([CUSTOMER_HEADER, *others]).encode() + b"\r\n"


def test_the_subjects_parquet_rows_go(landing):
    folder = landing / "billing" / "invoices"
    folder.mkdir(parents=True)
    table = pa.table({"invoice_id": [1, 2, 3], "customer_id": [7, 8, 7],
                      "note": ["a", f"jo{SUBJECT_EMAIL}", "b"]})
    pq.write_table(table, folder / "part.parquet")
    removed = erase_from_landing(spec("billing.invoices"), "customer_id", "7", [SUBJECT_EMAIL],
                                 delete=True)
    assert removed == {"billing/invoices/part.parquet": 2}
    assert pq.read_table(folder / "part.parquet").to_pydict() == {
        "invoice_id": [2], "customer_id": [8], "note": [f"jo{SUBJECT_EMAIL}"]}
