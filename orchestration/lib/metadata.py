"""Dagster metadata built from declarations: column schemas with classifications, owners."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg


def owners(team: str) -> list[str]:
    return [f"team:{team}"]


def column_schema(columns: Iterable[tuple[str, str, str, str]]) -> dg.TableSchema:
    """Columns as (name, type, description, classification); the class shows as a column tag."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=data_type.lower(), description=description or None,
                           tags={"classification": classification})
            for name, data_type, description, classification in columns
        ]
    )
