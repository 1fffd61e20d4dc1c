"""What every landing format's reader shares: the scratch tables it fills, the schema-drift
message, typed parsing, and reading one file alone so that a failure refuses that file only."""

from __future__ import annotations

from orchestration.lib.ingest.landing import LandingFile
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import Connection, Error, quote_ident, sql_literal


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


def region_sql(spec: SourceTable) -> str:
    return f"region_of({quote_ident(spec.route_by)})"


def drift_message(spec: SourceTable, found: list[str]) -> str | None:
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


def parsed_as(data_type: str) -> str:
    """The type a text value is parsed as before it is stored as `data_type`. A TIMESTAMP is
    parsed with its UTC offset, if it has one, and stored converted to UTC: parsed as a plain
    TIMESTAMP, the offset would be dropped and 09:15+02:00 stored as 09:15."""
    return "TIMESTAMPTZ" if data_type.upper() == "TIMESTAMP" else data_type


def try_typed(text: str, data_type: str) -> str:
    parsed = f"TRY_CAST({text} AS {parsed_as(data_type)})"
    return parsed if parsed_as(data_type) == data_type else f"CAST({parsed} AS {data_type})"


def columns_struct(spec: SourceTable, order: list[str]) -> str:
    types = {c.name: parsed_as(c.data_type) for c in spec.columns}
    return "{" + ", ".join(f"{sql_literal(n)}: {sql_literal(types[n])}" for n in order) + "}"


def read_alone(con, spec: SourceTable, file: LandingFile, reader, *args) -> dict[str, str]:
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


def read_each(con: Connection, spec: SourceTable, files: list[LandingFile],
              reader) -> dict[str, str]:
    """Read the files one by one, each alone; the refused ones with the reason."""
    refused: dict[str, str] = {}
    for file in files:
        refused.update(read_alone(con, spec, file, reader, file))
    return refused
