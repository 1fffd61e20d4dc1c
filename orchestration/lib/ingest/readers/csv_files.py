"""CSV exports: read by the file's own header, a broken line rejected with its number, and
the lines after an unclosed quote read again on their own."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from orchestration.lib.ingest.landing import LandingFile
from orchestration.lib.ingest.readers.shared import (
    FileRefused,
    columns_struct,
    drift_message,
    read_each,
    region_sql,
)
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import Connection, quote_ident


def _read_csv(con, spec: SourceTable, file: LandingFile, path: Path, header: list[str],
              line_offset: int = 0) -> None:
    """Read CSV rows by the file's own header order; a broken row is rejected with its line."""
    select = ", ".join(quote_ident(c) for c in spec.column_names)
    con.execute("DROP TABLE IF EXISTS csv_errors; DROP TABLE IF EXISTS csv_scans")
    con.execute(
        f"INSERT INTO incoming SELECT {select}, ?, NULL, {region_sql(spec)} "
        f"FROM read_csv(?, header = true, "
        f"columns = {columns_struct(spec, header)}, auto_detect = false, "
        "store_rejects = true, rejects_table = 'csv_errors', rejects_scan = 'csv_scans')",
        [file.name, str(path)],
    )
    errors = con.execute(
        "SELECT line, string_agg(coalesce(column_name || ': ', '') || error_message, '; '), "
        "any_value(csv_line), bool_or(error_type = 'UNQUOTED VALUE'), min(line_byte_position) "
        "FROM csv_errors GROUP BY line ORDER BY line"
    ).fetchall()
    for line, reason, record, unclosed_quote, byte_position in errors:
        record = (record or "").partition("\n")[0] if unclosed_quote else record
        con.execute("INSERT INTO rejected VALUES (?, ?, ?, ?)",
                    [file.name, line + line_offset, reason, record])
        if unclosed_quote:
            # The reader ran to the end of the file looking for the closing quote; the lines
            # after the broken one are still good rows, so read them again on their own.
            _salvage(con, spec, file, path, header, byte_position, line + line_offset - 1)


def _salvage(con, spec: SourceTable, file: LandingFile, path: Path, header: list[str],
             bad_line_at: int, line_offset: int) -> None:
    with open(path, "rb") as source:
        header_bytes = source.readline()
        source.seek(bad_line_at)
        source.readline()
        rest = source.read()
    if not rest.strip():
        return
    with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as handle:
        handle.write(header_bytes + rest)
        salvage_path = Path(handle.name)
    try:
        _read_csv(con, spec, file, salvage_path, header, line_offset)
    finally:
        salvage_path.unlink(missing_ok=True)


def read_csv_file(con: Connection, spec: SourceTable, file: LandingFile) -> None:
    with open(file.path, "rb") as handle:
        head = handle.readline()
        has_data = bool(handle.readline().strip())
    # A byte-order mark is encoding, not part of the first column's name.
    header_line = head.decode("utf-8-sig", errors="replace").strip()
    if not header_line:
        raise FileRefused("the file has no header line")
    header = next(csv.reader(io.StringIO(header_line)))
    if drift := drift_message(spec, header):
        raise FileRefused(drift)
    if not has_data:
        raise FileRefused("the file has a header but no data rows; was the export cut short?")
    _read_csv(con, spec, file, file.path, header)


def _accepted_lines(path: Path, rejected: set[int], accepted: int) -> list[int] | None:
    """The line of each row the CSV reader accepted, in order, counted as the reader counts
    lines in its rejects (the header is line 1; a quoted value spanning lines counts once, a
    blank line counts). None when this parse does not see the rows the reader accepted."""
    lines = []
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # one field may hold a whole multi-line export
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            for line, record in enumerate(csv.reader(handle), start=1):
                if line > 1 and record and line not in rejected:
                    lines.append(line)
    except csv.Error:
        return None
    finally:
        csv.field_size_limit(limit)
    return lines if len(lines) == accepted else None


def _csv_fields(text: str) -> list[str]:
    """The fields of one CSV record, or none when even Python's reader cannot split it."""
    try:
        return next(csv.reader(io.StringIO(text.rstrip("\r\n"), newline="")), [])
    except csv.Error:
        return []


def csv_routes(spec: SourceTable, rows: list[tuple], paths: dict[str, Path]) -> list[tuple]:
    """The routing field of each rejected CSV line that still has every field in place."""
    headers = {}
    for name in {file for file, _, _ in rows}:
        with open(paths[name], encoding="utf-8-sig", errors="replace") as handle:
            headers[name] = [c.strip() for c in _csv_fields(handle.readline())]
    found = []
    for file, line, record in rows:
        fields, header = _csv_fields(record), headers[file]
        # Only a line with every field in place says which one is the country.
        if len(fields) == len(header) and spec.route_by in header:
            found.append((file, line, fields[header.index(spec.route_by)]))
    return found


def number_csv_lines(con: Connection, files: list[LandingFile], wanted: str) -> None:
    """Fill `_line` of the CSV rows matching `wanted` (a condition on `incoming`): the reader
    gives lines only to the rows it rejects, so the others are found by a second parse, paid
    only for the files that have such rows. `csv_first_rows` holds each file's first rowid
    from before any row of the batch was deleted."""
    [(wanting,)] = con.execute(f"SELECT count(*) FROM incoming i WHERE i._line IS NULL AND "
                               f"({wanted})").fetchall()
    if not wanting:  # the usual case, found without the join below
        return
    paths = {file.name: file.path for file in files}
    todo = con.execute(
        f"SELECT i._file, list(i.rowid ORDER BY i.rowid), any_value(f.first_rowid), "
        f"any_value(f.accepted) FROM incoming i JOIN csv_first_rows f USING (_file) "
        f"WHERE i._line IS NULL AND ({wanted}) GROUP BY 1").fetchall()
    for name, rowids, first_rowid, accepted in todo:
        rejected = {line for (line,) in con.execute(
            "SELECT line FROM rejected WHERE _file = ? AND line IS NOT NULL", [name]).fetchall()}
        lines = _accepted_lines(paths[name], rejected, accepted)
        if lines is None:
            continue
        con.execute("UPDATE incoming SET _line = m.line FROM (SELECT unnest(?) AS rid, "
                    "unnest(?) AS line) m WHERE incoming.rowid = m.rid",
                    [rowids, [lines[rowid - first_rowid] for rowid in rowids]])


def _remember_csv_rows(con: Connection) -> None:
    """Where each file's rows start in `incoming`, before exclusions delete any."""
    con.execute("CREATE OR REPLACE TEMP TABLE csv_first_rows AS SELECT _file, "
                "min(rowid) AS first_rowid, count(*) AS accepted FROM incoming GROUP BY 1")


def read_csv_files(con: Connection, spec: SourceTable,
                   files: list[LandingFile]) -> dict[str, str]:
    refused = read_each(con, spec, files, read_csv_file)
    _remember_csv_rows(con)
    return refused
