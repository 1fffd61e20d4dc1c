"""Reading one landing file, typed, into the scratch engine's `incoming` table.

Each reader appends the rows it could type to `incoming` and every row it could not to
`rejected`, with the line and the reason, so nothing read is ever dropped. A file whose shape
does not match its declaration (schema drift) is refused whole, before any row is read.

Kept whole: the three formats share the scratch tables, the rejected-row routing and the
schema-drift check; each reader is a few functions over them, and `FORMATS` at the end holds
everything that differs between them, so the loader never asks which format it reads.
"""

from __future__ import annotations

import csv
import io
import json
import mmap
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.ingest.landing import LandingFile
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import (
    Connection,
    Error,
    quote_ident,
    sql_literal,
    sql_text_list,
)

SAMPLE_LINES = 1000


class FileRefused(Exception):
    """The whole file is quarantined; the message says why and what to do."""


def create_scratch_tables(con: Connection, spec: SourceTable,
                          country_regions: dict[str, str]) -> None:
    """`incoming` holds typed rows with their file, line and region; `rejected` the rest."""
    branches = " ".join(f"WHEN {sql_literal(country)} THEN {sql_literal(region)}"
                        for country, region in country_regions.items())
    con.execute(f"CREATE OR REPLACE MACRO region_of(country) AS "
                f"CASE upper(trim(country)) {branches} END")
    columns = ", ".join(f"{quote_ident(c.name)} {c.data_type}" for c in spec.columns)
    con.execute(f"CREATE OR REPLACE TABLE incoming ({columns}, _file VARCHAR, _line BIGINT, "
                "_region VARCHAR)")
    con.execute("CREATE OR REPLACE TABLE rejected "
                "(_file VARCHAR, line BIGINT, reason VARCHAR, record VARCHAR)")


def _region(spec: SourceTable) -> str:
    return f"region_of({quote_ident(spec.route_by)})"


def _drift_message(spec: SourceTable, found: list[str]) -> str | None:
    declared = spec.column_names
    missing = [name for name in declared if name not in found]
    extra = [name for name in found if name not in declared]
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"declared column(s) {', '.join(missing)} missing from the file")
    if extra:
        parts.append(f"undeclared column(s) {', '.join(extra)} in the file")
    return (f"schema drift: {'; '.join(parts)}. Declare the change in {spec.declared_in.name} "
            "or fix the export, then re-deliver the file")


def _parsed_as(data_type: str) -> str:
    """The type a text value is parsed as before it is stored as `data_type`. A TIMESTAMP is
    parsed with its UTC offset, if it has one, and stored converted to UTC: parsed as a plain
    TIMESTAMP, the offset would be dropped and 09:15+02:00 stored as 09:15."""
    return "TIMESTAMPTZ" if data_type.upper() == "TIMESTAMP" else data_type


def _try_typed(text: str, data_type: str) -> str:
    parsed = f"TRY_CAST({text} AS {_parsed_as(data_type)})"
    return parsed if _parsed_as(data_type) == data_type else f"CAST({parsed} AS {data_type})"


def _columns_struct(spec: SourceTable, order: list[str]) -> str:
    types = {c.name: _parsed_as(c.data_type) for c in spec.columns}
    return "{" + ", ".join(f"{sql_literal(n)}: {sql_literal(types[n])}" for n in order) + "}"


def _read_csv(con, spec: SourceTable, file: LandingFile, path: Path, header: list[str],
              line_offset: int = 0) -> None:
    """Read CSV rows by the file's own header order; a broken row is rejected with its line."""
    select = ", ".join(quote_ident(c) for c in spec.column_names)
    con.execute("DROP TABLE IF EXISTS csv_errors; DROP TABLE IF EXISTS csv_scans")
    con.execute(
        f"INSERT INTO incoming SELECT {select}, ?, NULL, {_region(spec)} "
        f"FROM read_csv(?, header = true, "
        f"columns = {_columns_struct(spec, header)}, auto_detect = false, "
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
    if drift := _drift_message(spec, header):
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


def _csv_routes(spec: SourceTable, rows: list[tuple], paths: dict[str, Path]) -> list[tuple]:
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


def _json_routes(spec: SourceTable, rows: list[tuple], _paths: dict[str, Path]) -> list[tuple]:
    """The routing key's string value in each rejected JSON record that still shows it."""
    pair = re.compile(rf'{re.escape(json.dumps(spec.route_by))}\s*:\s*"([^"\\]*)"')
    return [(file, line, match[1]) for file, line, record in rows
            if (match := pair.search(record))]


def number_lines(con: Connection, spec: SourceTable, files: list[LandingFile],
                 wanted: str) -> None:
    """Fill `_line` of the rows matching `wanted` (a condition on `incoming`) where the format
    leaves it empty: the CSV reader gives lines only to the rows it rejects, so the others are
    found by a second parse, paid only for the files that have such rows. `csv_first_rows`
    holds each file's first rowid from before any row of the batch was deleted."""
    if not format_of(spec).lines_numbered_later:
        return
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


def _remember_csv_rows(con: Connection) -> None:
    """Where each file's rows start in `incoming`, before exclusions delete any."""
    con.execute("CREATE OR REPLACE TEMP TABLE csv_first_rows AS SELECT _file, "
                "min(rowid) AS first_rowid, count(*) AS accepted FROM incoming GROUP BY 1")


def _same_type(found: str, declared: str) -> bool:
    """Whether a Parquet column can be stored as declared without losing anything: an instant
    with a time zone is stored in UTC in a TIMESTAMP column."""
    found, declared = found.replace(" ", ""), declared.replace(" ", "")
    return found == declared or (found, declared) == ("TIMESTAMPWITHTIMEZONE", "TIMESTAMP")


def _check_parquet_schema(con: Connection, spec: SourceTable,
                          file: LandingFile) -> None:
    try:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                [str(file.path)]).fetchall()
    except Error as error:
        raise FileRefused(f"not a readable Parquet file: {str(error).splitlines()[0]}") from None
    found = {name: str(kind).upper() for name, kind, *_ in described}
    if drift := _drift_message(spec, list(found)):
        raise FileRefused(drift)
    retyped = [f"{c.name} is {found[c.name]} in the file but declared {c.data_type}"
               for c in spec.columns if not _same_type(found[c.name], c.data_type)]
    if retyped:
        raise FileRefused(f"schema drift: {'; '.join(retyped)}. Declare the new type in "
                          f"{spec.declared_in.name} or fix the export")


def _file_names(files: list[LandingFile]) -> str:
    """The landing-relative name of each row's file: its path minus the landing root."""
    prefix = len(str(files[0].path)) - len(files[0].name)
    return f"substr(filename, {prefix + 1})"


def _parquet_scan(files: list[LandingFile]) -> str:
    paths = "[" + ", ".join(sql_literal(str(f.path)) for f in files) + "]"
    return f"read_parquet({paths}, filename = true, file_row_number = true)"


def parquet_rows(spec: SourceTable, files: list[LandingFile]) -> str:
    """Full rows of Parquet files as a relation with `_file` and `_region`, read in place."""
    select = ", ".join(quote_ident(c) for c in spec.column_names)
    return (f"(SELECT {select}, {_file_names(files)} AS _file, {_region(spec)} AS _region "
            f"FROM {_parquet_scan(files)})")


def _insert_parquet(con: Connection, spec: SourceTable,
                    files: list[LandingFile], columns: list[str] | None = None) -> None:
    columns = columns or spec.column_names
    select = ", ".join(quote_ident(c) for c in columns)
    if columns != spec.column_names:  # a key-only probe: row order does not matter there
        con.execute("SET preserve_insertion_order = false")
    con.execute(f"INSERT INTO incoming ({select}, _file, _line, _region) SELECT {select}, "
                f"{_file_names(files)}, file_row_number + 1, {_region(spec)} "
                f"FROM {_parquet_scan(files)}")
    con.execute("RESET preserve_insertion_order")


def read_parquet_files(con: Connection, spec: SourceTable,
                       files: list[LandingFile], columns: list[str] | None = None
                       ) -> dict[str, str]:
    """All good Parquet files in one parallel scan; a file that breaks it is read alone.
    With `columns`, only those are read (the rest of `incoming` stays NULL)."""
    refused, accepted = {}, []
    for file in files:
        try:
            _check_parquet_schema(con, spec, file)
            accepted.append(file)
        except FileRefused as error:
            refused[file.name] = str(error)
    try:
        if accepted:
            _insert_parquet(con, spec, accepted, columns)
    except Error:
        con.execute("DELETE FROM incoming")
        for file in accepted:
            refused.update(_read_alone(con, spec, file, _insert_parquet, [file], columns))
    return refused


def _json_sample_keys(file: LandingFile) -> list[str]:
    keys: dict[str, None] = {}
    with open(file.path, "rb") as handle:
        for _, raw in zip(range(SAMPLE_LINES), handle, strict=False):
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                keys.update(dict.fromkeys(record))
    return list(keys)


def read_jsonl_file(con: Connection, spec: SourceTable, file: LandingFile) -> None:
    keys = _json_sample_keys(file)
    if not keys:
        raise FileRefused("no JSON object found in the first lines; is the file empty?")
    if drift := _drift_message(spec, keys):
        raise FileRefused(drift)
    # JSON text never holds a raw \x01, so each line arrives whole as one value, numbered.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE json_lines AS SELECT row_number() OVER () AS line, "
        "value FROM read_csv(?, columns = {'value': 'VARCHAR'}, header = false, delim = '\x01', "
        "quote = '', escape = '', auto_detect = false, store_rejects = true, "
        "rejects_table = 'json_errors', rejects_scan = 'json_scans')",
        [str(file.path)],
    )
    con.execute("INSERT INTO rejected SELECT ?, line, error_message, csv_line FROM json_errors",
                [file.name])
    # CASE, not AND: DuckDB may evaluate json_type() on text that is not JSON at all.
    is_object = ("CASE WHEN value IS NOT NULL AND json_valid(value) "
                 "THEN json_type(value) = 'OBJECT' ELSE false END")
    paths = "[" + ", ".join(sql_literal(f"$.{c}") for c in spec.column_names) + "]"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE json_values AS SELECT line, value, "
        f"json_extract_string(value, {paths}) AS raw FROM json_lines WHERE {is_object}"
    )
    con.execute(f"INSERT INTO rejected SELECT ?, line, 'not a JSON object', value "
                f"FROM json_lines WHERE value IS NOT NULL AND NOT ({is_object})", [file.name])
    casts = [_try_typed(f"raw[{i}]", c.data_type) for i, c in enumerate(spec.columns, start=1)]
    failures = " || ".join(
        f"CASE WHEN raw[{i}] IS NOT NULL AND {cast} IS NULL THEN "
        f"'{c.name}: cannot convert ' || raw[{i}] || ' to {c.data_type}; ' ELSE '' END"
        for i, (c, cast) in enumerate(zip(spec.columns, casts, strict=True), start=1)
    )
    typed = ", ".join(f"{cast} AS {quote_ident(c.name)}"
                      for cast, c in zip(casts, spec.columns, strict=True))
    con.execute(f"CREATE OR REPLACE TEMP TABLE json_typed AS SELECT line, value, "
                f"{typed}, {failures} AS failure FROM json_values")
    select = ", ".join(quote_ident(c) for c in spec.column_names)
    con.execute(f"INSERT INTO incoming SELECT {select}, ?, line, {_region(spec)} "
                f"FROM json_typed WHERE failure = ''", [file.name])
    con.execute("INSERT INTO rejected SELECT ?, line, rtrim(failure, '; '), value FROM json_typed "
                "WHERE failure <> ''", [file.name])


def _read_alone(con, spec: SourceTable, file: LandingFile, reader, *args) -> dict[str, str]:
    """Run one file's reader; on failure remove its partial rows and say why it was refused."""
    try:
        if file.size == 0:
            raise FileRefused("the file is empty (0 bytes)")
        reader(con, spec, *args)
        return {}
    except (FileRefused, *Error) as error:
        for table in ("incoming", "rejected"):
            con.execute(f"DELETE FROM {table} WHERE _file = ?", [file.name])
        if isinstance(error, FileRefused):
            return {file.name: str(error)}
        return {file.name: f"could not be read: {str(error).splitlines()[0]}"}


def _one_by_one(con: Connection, spec: SourceTable, files: list[LandingFile],
                reader: Callable) -> dict[str, str]:
    refused: dict[str, str] = {}
    for file in files:
        refused.update(_read_alone(con, spec, file, reader, file))
    return refused


def _read_csv_files(con: Connection, spec: SourceTable,
                    files: list[LandingFile]) -> dict[str, str]:
    refused = _one_by_one(con, spec, files, read_csv_file)
    _remember_csv_rows(con)
    return refused


def _read_jsonl_files(con: Connection, spec: SourceTable,
                      files: list[LandingFile]) -> dict[str, str]:
    return _one_by_one(con, spec, files, read_jsonl_file)


def _read_parquet_batch(con: Connection, spec: SourceTable,
                        files: list[LandingFile]) -> dict[str, str]:
    empty = {f.name: "the file is empty (0 bytes)" for f in files if f.size == 0}
    return empty | read_parquet_files(con, spec, [f for f in files if f.size])


@dataclass(frozen=True)
class Format:
    """Everything that sets one landing format's reading apart, chosen once from the spec:
    the rest of the load is the same for every format."""
    # Reads the files into `incoming`/`rejected`; returns the refused files with the reason.
    read: Callable[[Connection, SourceTable, list[LandingFile]], dict[str, str]]
    # (file, line, country) of the rejected records whose routing value can still be read.
    rejected_routes: Callable[[SourceTable, list[tuple], dict[str, Path]], list[tuple]]
    nul_markers: tuple[bytes, ...]  # how a NUL byte shows in the file; none: typed, no text
    lines_numbered_later: bool = False  # accepted rows get their line only when asked
    columnar: bool = False  # the key columns can be read alone, without the rest


FORMATS = {
    "csv": Format(_read_csv_files, _csv_routes, (b"\x00",), lines_numbered_later=True),
    "jsonl": Format(_read_jsonl_files, _json_routes, (b"\x00", b"\\u0000")),
    "parquet": Format(_read_parquet_batch, _json_routes, (), columnar=True),
}


def format_of(spec: SourceTable) -> Format:
    return FORMATS[spec.format]


def read_files(con: Connection, spec: SourceTable,
               files: list[LandingFile]) -> dict[str, str]:
    """Read the files into `incoming`/`rejected`; returns the refused files with the reason."""
    return format_of(spec).read(con, spec, files)
