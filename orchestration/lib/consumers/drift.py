"""Measuring drift: the training population's bins, kept with a fitted model, and how a scoring
run's population falls into them. What the indices mean for the run is the policy's
(`policies/drift.py`).

A numeric column is binned at the training population's quantiles, a categorical one by its
training categories plus one bin for any category unseen then; missing values have a bin of
their own either way, so a column going empty is drift too. Numbers are read however the
driver hands them over (a DECIMAL as Decimal objects, a PostgreSQL NUMERIC as text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from orchestration.lib.governance import audit_log
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import rows_if_present, write_connection
from policies.drift import DriftWatch, psi

HISTORY = "drift_history"  # in the ops store: one row per model, region, run and measure
ACCEPTANCES = "drift_acceptances"  # in the ops store: a person's word that a drift may score


def population(frames: dict[str, pd.DataFrame], scored: pd.DataFrame,
               columns: tuple[str, ...]) -> dict[str, pd.Series]:
    """Each watched column, from the input frame or the scored rows that hold it."""
    found = {}
    for column in columns:
        holder = next((f for f in (*frames.values(), scored) if column in f.columns), None)
        if holder is not None:
            found[column] = holder[column]
    return found


def as_numbers(series: pd.Series) -> pd.Series:
    """The column as floats, NaN where a value is not a number. A direct cast first: parsing
    each value (`to_numeric`) costs about four times as much on a column of Decimals."""
    try:
        return series.astype(float)
    except (TypeError, ValueError):  # some value is not a number: it becomes NaN
        return pd.to_numeric(series, errors="coerce").astype(float)


def _numbers(series: pd.Series) -> pd.Series | None:
    """The column as numbers, or None for a categorical column."""
    if pd.api.types.is_bool_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        return series.astype(float)
    converted = as_numbers(series)
    present = series.notna().sum()
    return converted if present and converted.notna().sum() == present else None


def _shares(series: pd.Series, bins: dict) -> list[float]:
    """The share of rows in each bin; the last bin holds the missing values (for a numeric
    column, also any value that is no longer a number)."""
    if "edges" in bins:
        numbers = as_numbers(series).dropna()
        slots = np.searchsorted(bins["edges"], numbers.to_numpy(), side="right")
        counts = np.bincount(slots, minlength=len(bins["edges"]) + 1).tolist()
        counts.append(len(series) - len(numbers))
    else:
        present = series.dropna()
        text = present.astype(str)
        counts = [int((text == c).sum()) for c in bins["categories"]]
        counts.append(int((~text.isin(bins["categories"])).sum()))  # unseen in training
        counts.append(len(series) - len(present))
    return [count / len(series) for count in counts]


def reference(values: dict[str, pd.Series], bins: int) -> dict[str, dict]:
    """The training population's bins and shares, per column."""
    kept = {}
    for column, series in values.items():
        present = series.dropna()
        if len(series) == 0:
            continue
        numbers = _numbers(present)
        if numbers is not None:
            cuts = np.quantile(numbers, np.linspace(0, 1, bins + 1)[1:-1]) if len(numbers) else []
            found = {"edges": sorted({float(cut) for cut in cuts}),
                     "range": [float(numbers.min()), float(numbers.max())] if len(numbers)
                     else None}
        else:
            found = {"categories": sorted(present.astype(str).unique().tolist())}
        kept[column] = {**found, "shares": _shares(series, found)}
    return kept


def indices(kept: dict[str, dict], values: dict[str, pd.Series]) -> dict[str, float]:
    """Each watched column's PSI against the training population (columns with rows only)."""
    return {column: round(psi(bins["shares"], _shares(values[column], bins)), 4)
            for column, bins in kept.items() if column in values and len(values[column])}


def band_shares(scored: pd.DataFrame, column: str | None) -> dict[str, float]:
    """The share of scored rows in each band (risk band, priority, queue)."""
    if not column or column not in scored.columns or scored.empty:
        return {}
    return {str(band): round(float(share), 4)
            for band, share in scored[column].value_counts(normalize=True).sort_index().items()}


def record(model: str, region: str, moved: dict[str, float], bands: dict[str, float],
           scored: int, at: datetime) -> None:
    """Keep each index (`psi:<column>`) and band share (`share:<band>`) of one scoring run, and
    the rows it scored (`rows`)."""
    if not moved and not bands:
        return
    rows = [[at, model, region, f"psi:{column}", value] for column, value in moved.items()]
    rows += [[at, model, region, f"share:{band}", value] for band, value in bands.items()]
    rows.append([at, model, region, "rows", scored])
    with write_connection(get_settings().ops_store) as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS {HISTORY} (measured_at TIMESTAMP, "
                    "model VARCHAR, region VARCHAR, measure VARCHAR, value DOUBLE PRECISION)")
        con.executemany(f"INSERT INTO {HISTORY} VALUES (?, ?, ?, ?, ?)", rows)


def history(model: str) -> list[tuple]:
    """(measured_at, region, measure, value) of every run of `model`, oldest first."""
    return rows_if_present(get_settings().ops_store, HISTORY,
                           f"SELECT measured_at, region, measure, value FROM {HISTORY} "
                           "WHERE model = ? ORDER BY measured_at, region, measure", [model])


@dataclass(frozen=True)
class Measured:
    at: datetime
    psi: dict[str, float]  # per watched column
    rows: int  # scored


def latest(model: str, region: str) -> Measured | None:
    """The last measure of `model` scoring `region`."""
    found = [row for row in history(model) if row[1] == region]
    if not found:
        return None
    last = {measure: value for at, _, measure, value in found if at == found[-1][0]}
    return Measured(found[-1][0], {measure.removeprefix("psi:"): value
                                   for measure, value in last.items()
                                   if measure.startswith("psi:")}, int(last.get("rows", 0)))


@dataclass(frozen=True)
class Acceptance:
    model: str
    region: str
    trained_at: datetime  # the kept model accepted: a retrained one is judged afresh
    up_to_psi: float  # drift up to this index scores (with a warning); past it, held again
    accepted_by: str
    accepted_at: datetime
    note: str


class NothingToAccept(ValueError):
    """The model is not held back by drift in that region, or has never been measured."""


def accepted(model: str, region: str, trained_at: datetime) -> Acceptance | None:
    """The latest acceptance of the drift of the model kept in `region` since `trained_at`."""
    found = rows_if_present(get_settings().ops_store, ACCEPTANCES,
                            f"SELECT * FROM {ACCEPTANCES} WHERE model = ? AND region = ? AND "
                            "trained_at = ? ORDER BY accepted_at DESC", [model, region, trained_at])
    return Acceptance(*found[0]) if found else None


def accept(watch: DriftWatch, region: str, trained_at: datetime, by: str, note: str,
           up_to: float | None = None) -> Acceptance:
    """A person's word that the drift last measured for the model kept in `region` is
    understood and it may score: up to `up_to` (at least the worst index measured), until it
    is retrained. Audited as `drift.accepted`."""
    measured = latest(watch.model, region)
    if measured is None:
        raise NothingToAccept(f"{watch.model} has not scored {region} since drift was watched: "
                              "nothing to accept")
    worst = max(measured.psi.values(), default=0.0)
    if worst < watch.block_psi:
        raise NothingToAccept(f"{watch.model} is not held back in {region}: its worst PSI at "
                              f"{measured.at:%Y-%m-%d %H:%M} was {worst:.3f}, under block_psi "
                              f"{watch.block_psi}")
    if not note.strip():
        raise NothingToAccept("say why the drift is acceptable (--note): it goes to the audit log")
    acceptance = Acceptance(watch.model, region, trained_at, max(up_to or 0.0, worst), by,
                            current_time(), note.strip())
    with write_connection(get_settings().ops_store) as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS {ACCEPTANCES} (model VARCHAR, region VARCHAR, "
                    "trained_at TIMESTAMP, up_to_psi DOUBLE PRECISION, accepted_by VARCHAR, "
                    "accepted_at TIMESTAMP, note VARCHAR)")
        con.execute(f"INSERT INTO {ACCEPTANCES} VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [acceptance.model, region, trained_at, acceptance.up_to_psi, by,
                     acceptance.accepted_at, acceptance.note])
    audit_log.append("drift.accepted", watch.model, {
        "region": region, "trained_at": trained_at.isoformat(sep=" "), "psi": measured.psi,
        "up_to_psi": acceptance.up_to_psi, "by": by, "note": acceptance.note})
    return acceptance
