"""Parquet exports: typed already, checked against the declaration, and every good file of a
batch read in one parallel scan (or only its key columns, for the loader's fast path)."""

from __future__ import annotations

from orchestration.lib.ingest.landing import LandingFile
from orchestration.lib.ingest.readers.shared import (
    FileRefused,
    drift_message,
    read_alone,
    region_sql,
)
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import Connection, Error, quote_ident, sql_literal


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
    if drift := drift_message(spec, list(found)):
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
    return (f"(SELECT {select}, {_file_names(files)} AS _file, {region_sql(spec)} AS _region "
            f"FROM {_parquet_scan(files)})")


def _insert_parquet(con: Connection, spec: SourceTable,
                    files: list[LandingFile], columns: list[str] | None = None) -> None:
    columns = columns or spec.column_names
    select = ", ".join(quote_ident(c) for c in columns)
    if columns != spec.column_names:  # a key-only probe: row order does not matter there
        con.execute("SET preserve_insertion_order = false")
    con.execute(f"INSERT INTO incoming ({select}, _file, _line, _region) SELECT {select}, "
                f"{_file_names(files)}, file_row_number + 1, {region_sql(spec)} "
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
            refused.update(read_alone(con, spec, file, _insert_parquet, [file], columns))
    return refused


def read_parquet_batch(con: Connection, spec: SourceTable,
                       files: list[LandingFile]) -> dict[str, str]:
    empty = {f.name: "the file is empty (0 bytes)" for f in files if f.size == 0}
    return empty | read_parquet_files(con, spec, [f for f in files if f.size])
