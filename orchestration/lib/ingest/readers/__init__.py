"""Reading landing files, typed, into the scratch engine's `incoming` table.

Each reader appends the rows it could type to `incoming` and every row it could not to
`rejected`, with the line and the reason, so nothing read is ever dropped. A file whose shape
does not match its declaration (schema drift) is refused whole, before any row is read.

One module per format (`csv_files`, `jsonl_files`, `parquet_files`) over what they share
(`shared`); `FORMATS` below holds everything that differs between them, so the loader never
asks which format it reads. Here too the steps after reading that hold for every format:
routing rejected records, and setting aside rows that hold a NUL byte.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.ingest.landing import LandingFile
from orchestration.lib.ingest.readers.csv_files import (
    csv_routes,
    number_csv_lines,
    read_csv_files,
)
from orchestration.lib.ingest.readers.jsonl_files import json_routes, read_jsonl_files
from orchestration.lib.ingest.readers.parquet_files import (
    parquet_rows,
    read_parquet_batch,
    read_parquet_files,
)
from orchestration.lib.ingest.readers.shared import FileRefused, create_scratch_tables
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import Connection, quote_ident, sql_literal, sql_text_list


def route_rejected(con: Connection, spec: SourceTable,
                   files: list[LandingFile]) -> None:
    """`rejected_routes` (file, line, country): the routing column of each rejected row, where
    the broken line still shows it (a CSV field under its header, a JSON "key": "value"), so a
    row refused as unreadable can still be quarantined in its region."""
    con.execute("CREATE OR REPLACE TEMP TABLE rejected_routes "
                "(_file VARCHAR, line BIGINT, country VARCHAR)")
    rows = con.execute("SELECT _file, line, record FROM rejected WHERE record IS NOT NULL"
                       ).fetchall()
    if not rows:
        return
    found = format_of(spec).rejected_routes(spec, rows, {f.name: f.path for f in files})
    if found:
        con.executemany("INSERT INTO rejected_routes VALUES (?, ?, ?)", found)


def _holds_nul(file: LandingFile, markers: tuple[bytes, ...]) -> bool:
    """A NUL byte anywhere in the file, as any of the format's `markers`: one fast pass over
    the bytes decides whether the rows need checking at all."""
    if not file.size:
        return False
    with open(file.path, "rb") as handle, mmap.mmap(handle.fileno(), 0,
                                                    access=mmap.ACCESS_READ) as data:
        return any(data.find(marker) >= 0 for marker in markers)


def reject_nul_bytes(con: Connection, spec: SourceTable,
                     files: list[LandingFile]) -> None:
    """Move rows of a text export (CSV, JSON lines) whose text holds a NUL byte from
    `incoming` to `rejected`: no export means one, and stored it would cut the value short in
    any client that reads C strings."""
    text = [c.name for c in spec.columns if c.data_type.upper() == "VARCHAR"]
    markers = format_of(spec).nul_markers
    suspects = [f.name for f in files if markers and not f.refused and _holds_nul(f, markers)]
    if not text or not suspects:
        return

    def holding_nul(alias: str) -> str:
        return (f"list_contains({sql_text_list(suspects)}, {alias}_file) AND ("
                + " OR ".join(f"contains({alias}{quote_ident(c)}, chr(0))" for c in text) + ")")

    number_lines(con, spec, files, holding_nul("i."))
    columns = " || ".join(f"CASE WHEN contains({quote_ident(c)}, chr(0)) THEN "
                          f"{sql_literal(c + ' ')} ELSE '' END" for c in text)
    fields = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in spec.column_names)
    con.execute(f"INSERT INTO rejected SELECT _file, _line, 'a NUL byte in ' || rtrim({columns}) "
                f"|| ': no export means one, so the row is kept aside rather than stored cut "
                f"short', to_json(struct_pack({fields}))::VARCHAR FROM incoming "
                f"WHERE {holding_nul('')}")
    con.execute(f"DELETE FROM incoming WHERE {holding_nul('')}")


@dataclass(frozen=True)
class Format:
    """Everything that sets one landing format's reading apart, chosen once from the spec:
    the rest of the load is the same for every format."""
    # Reads the files into `incoming`/`rejected`; returns the refused files with the reason.
    read: Callable[[Connection, SourceTable, list[LandingFile]], dict[str, str]]
    # (file, line, country) of the rejected records whose routing value can still be read.
    rejected_routes: Callable[[SourceTable, list[tuple], dict[str, Path]], list[tuple]]
    nul_markers: tuple[bytes, ...]  # how a NUL byte shows in the file; none: typed, no text
    # Fills `_line` of the rows matching a condition, where the reader left it empty.
    number_lines: Callable[[Connection, list[LandingFile], str], None] | None = None
    columnar: bool = False  # the key columns can be read alone, without the rest


FORMATS = {
    "csv": Format(read_csv_files, csv_routes, (b"\x00",), number_lines=number_csv_lines),
    "jsonl": Format(read_jsonl_files, json_routes, (b"\x00", b"\\u0000")),
    "parquet": Format(read_parquet_batch, json_routes, (), columnar=True),
}


def format_of(spec: SourceTable) -> Format:
    return FORMATS[spec.format]


def read_files(con: Connection, spec: SourceTable,
               files: list[LandingFile]) -> dict[str, str]:
    """Read the files into `incoming`/`rejected`; returns the refused files with the reason."""
    return format_of(spec).read(con, spec, files)


def number_lines(con: Connection, spec: SourceTable, files: list[LandingFile],
                 wanted: str) -> None:
    """Fill `_line` of the rows matching `wanted` (a condition on `incoming`) where the format's
    reader left it empty (CSV); a no-op for the formats that number every row."""
    if numbering := format_of(spec).number_lines:
        numbering(con, files, wanted)


__all__ = ["FORMATS", "FileRefused", "Format", "create_scratch_tables", "format_of",
           "number_lines", "parquet_rows", "read_files", "read_parquet_files",
           "reject_nul_bytes", "route_rejected"]
