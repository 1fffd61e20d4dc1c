"""Source declarations, read from dbt's sources YAML so Dagster and dbt share one declaration.

A source table is governed when its YAML carries `config.meta.steward`; that block says where
its files land, in which format, its key, cursor and how rows are routed to regions. Columns
carry their type (`data_type`) and classification (`config.meta.classification`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import UnsafeIdentifierError, quote_ident
from policies.access import MASKS
from policies.yaml_source import has_alias

# libyaml's safe loader when the wheel has it: a thousand declared tables parse in a blink.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
TELEMETRY_ORIGIN = "telemetry"  # a source Steward writes about itself (orchestration/lib/telemetry)
MAX_DECLARATION_BYTES = 1_000_000
FORMATS = {"csv": (".csv",), "parquet": (".parquet",), "jsonl": (".jsonl", ".json")}
# A column type is spliced into SQL, so only plain type names with optional precision pass.
_DATA_TYPE = re.compile(r"^[A-Z][A-Z ]{1,30}(\(\d{1,2}(, ?\d{1,2})?\))?$")


class SourceDeclarationError(ValueError):
    """A source declaration that cannot be loaded, naming the file and what to fix."""


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str
    classification: str = "none"
    description: str = ""
    mask: str | None = None  # how a read above clearance masks it (policies.access.MASKS)
    subject: str | None = None  # the kind of data subject this column identifies ("customer")
    references: str | None = None  # a foreign key: "source.table.column" it must be found in


@dataclass(frozen=True)
class SourceTable:
    source: str
    table: str
    schema: str
    description: str
    owner: str
    format: str
    landing: str
    primary_key: tuple[str, ...]
    route_by: str
    cursor: str | None
    retention: str | None
    event_time: str | None  # the column whose age retention is measured by
    columns: tuple[Column, ...]
    declared_in: Path = field(compare=False)

    @property
    def name(self) -> str:
        return f"{self.source}.{self.table}"

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)


def node_meta(node: dict) -> dict:
    """A dbt node's `meta`: dbt accepts it at the top level or under `config`; read both."""
    merged = dict(node.get("meta") or {})
    merged.update((node.get("config") or {}).get("meta") or {})
    return merged


def _require(condition: bool, where: str, message: str) -> None:
    if not condition:
        raise SourceDeclarationError(f"{where}: {message}")


def _parse_table(source: dict, table: dict, path: Path) -> SourceTable | None:
    steward = node_meta(table).get("steward")
    if steward is None:
        return None
    source_meta = node_meta(source).get("steward") or {}
    if source_meta.get("origin") == TELEMETRY_ORIGIN:
        return None  # written by Steward itself, never landed
    where = f"{path} (source '{source.get('name')}', table '{table.get('name')}')"
    columns = []
    for raw in table.get("columns") or []:
        _require(bool(raw.get("data_type")), where, f"column '{raw.get('name')}' needs a data_type")
        column_meta = node_meta(raw)
        data_type = str(raw["data_type"]).upper().strip()
        mask = column_meta.get("mask")
        _require(mask is None or mask in MASKS, where,
                 f"column '{raw.get('name')}' has mask {mask!r}; use one of {', '.join(MASKS)}")
        _require(bool(_DATA_TYPE.match(data_type)), where,
                 f"column '{raw.get('name')}' has an unsupported data_type {raw['data_type']!r}")
        columns.append(
            Column(
                name=raw["name"],
                data_type=data_type,
                classification=str(column_meta.get("classification", "none")),
                description=raw.get("description", ""),
                mask=mask,
                subject=column_meta.get("subject"),
                references=column_meta.get("references"),
            )
        )
    _require(bool(columns), where, "declare the table's columns with their data_type")
    names = {column.name for column in columns}
    fmt = steward.get("format")
    _require(fmt in FORMATS, where, f"format must be one of {sorted(FORMATS)}, not {fmt!r}")
    key = steward.get("primary_key")
    key = (key,) if isinstance(key, str) else tuple(key or ())
    _require(bool(key) and set(key) <= names, where, f"primary_key {key} must name columns")
    route_by = steward.get("route_by")
    _require(route_by in names, where, f"route_by {route_by!r} must name a country column")
    cursor = steward.get("cursor")
    _require(cursor is None or cursor in names, where, f"cursor {cursor!r} must name a column")
    event_time = steward.get("event_time")
    _require(event_time is None or event_time in names, where,
             f"event_time {event_time!r} must name a timestamp or date column")
    owner = steward.get("owner") or source_meta.get("owner")
    _require(bool(owner), where, "declare an owner (config.meta.steward.owner) on the source")
    landing = str(steward.get("landing") or f"{source['name']}/{table['name']}")
    _require(".." not in Path(landing).parts and not Path(landing).is_absolute(), where,
             f"landing {landing!r} must be a folder inside the landing zone")
    spec = SourceTable(
        source=source["name"],
        table=table["name"],
        schema=source.get("schema") or source["name"],
        description=(table.get("description") or source.get("description") or "").strip(),
        owner=str(owner),
        format=fmt,
        landing=landing,
        primary_key=key,
        route_by=route_by,
        cursor=cursor,
        retention=steward.get("retention") or source_meta.get("retention"),
        event_time=event_time,
        columns=tuple(columns),
        declared_in=path,
    )
    try:
        for identifier in [spec.source, spec.table, spec.schema, *names]:
            quote_ident(identifier)
    except UnsafeIdentifierError as error:
        raise SourceDeclarationError(f"{where}: {error}") from None
    return spec


def load_source_tables(models_dir: Path | None = None) -> list[SourceTable]:
    """Every governed source table declared under the dbt project's models folder."""
    return list(_load_source_tables(models_dir or get_settings().dbt_project_dir / "models"))


def _read_declaration(path: Path) -> dict:
    """One sources file, refused whole when oversized, not UTF-8, not YAML, or a YAML bomb."""
    if path.stat().st_size > MAX_DECLARATION_BYTES:
        raise SourceDeclarationError(f"{path}: larger than {MAX_DECLARATION_BYTES} bytes; "
                                     "declare one source per file")
    try:
        text = path.read_text(encoding="utf-8")
        # Aliases make a small file expand into billions of items (a YAML bomb): refused
        # before anything is built from it.
        if ("&" in text or "*" in text) and has_alias(yaml.compose(text, Loader=_YAML_LOADER)):
            raise SourceDeclarationError(f"{path}: YAML anchors and aliases are not allowed in "
                                         "source declarations")
        document = yaml.load(text, Loader=_YAML_LOADER) or {}
    except UnicodeDecodeError as error:
        raise SourceDeclarationError(f"{path}: not UTF-8 text ({error.reason})") from None
    except yaml.YAMLError as error:
        raise SourceDeclarationError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise SourceDeclarationError(f"{path}: expected a mapping with a `sources:` list")
    return document


@cache
def _load_source_tables(models_dir: Path) -> tuple[SourceTable, ...]:
    tables: list[SourceTable] = []
    for path in sorted(models_dir.rglob("_*__sources.yml")):
        document = _read_declaration(path)
        for source in document.get("sources") or []:
            for table in source.get("tables") or []:
                spec = _parse_table(source, table, path)
                if spec is not None:
                    tables.append(spec)
    seen: set[tuple[str, str]] = set()
    for spec in tables:
        key = (spec.source, spec.table)
        _require(key not in seen, str(spec.declared_in), f"{spec.name} is declared twice")
        seen.add(key)
    declared = {spec.name: spec for spec in tables}
    for spec in tables:
        for column in spec.columns:
            if column.references:
                target, _, target_column = str(column.references).rpartition(".")
                _require(target in declared and target_column in declared[target].column_names,
                         str(spec.declared_in), f"{spec.name}.{column.name} references "
                         f"{column.references!r}: name a declared source.table.column")
    return tuple(tables)
