"""The report's data on how the platform measures up: data-quality history, service levels,
the consumer models with their drift, and the platform metrics. Plain structures for the
templates."""

from __future__ import annotations

from collections import defaultdict

from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.consumers import drift, kept
from orchestration.lib.operations.metrics import read_metrics
from orchestration.lib.operations.slis import history as slo_history
from orchestration.lib.quality.history import recorded_everywhere
from orchestration.lib.settings import current_time
from policies.rules import load_rules

QUALITY_RUNS_SHOWN = 40
SLO_READINGS_SHOWN = 60
DRIFT_RUNS_SHOWN = 60
CPU_RUNS_SHOWN = 80
HELD_OUT_METRICS = ("roc_auc", "accuracy", "macro_f1")


def _minute(at) -> str:
    return f"{at:%Y-%m-%d %H:%M}"


def quality() -> dict:
    """Per suite and region, the share of expectations met in each validation run."""
    runs: dict[tuple[str, str], dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    stamp: dict[str, str] = {}
    for row in recorded_everywhere(QUALITY_RUNS_SHOWN):
        runs[(row.suite, row.region)][row.run_id].append(bool(row.success))
        stamp[row.run_id] = _minute(row.validated_at)
    rows = []
    for (suite, region), by_run in sorted(runs.items()):
        ordered = sorted(by_run.items(), key=lambda item: stamp[item[0]])[-QUALITY_RUNS_SHOWN:]
        rows.append({"suite": suite, "region": region, "points": [
            (stamp[run], sum(results) / len(results)) for run, results in ordered]})
    return {"rows": rows}


def service_levels() -> dict:
    """Each dataset's objectives, its latest measurement and its freshness lag history."""
    readings = defaultdict(list)
    for at, dataset, runs, success, _p50, p95, lag, checks, breaches in slo_history():
        readings[dataset].append({"when": _minute(at), "runs": runs, "success": success,
                                  "p95": p95, "lag": lag, "checks": checks,
                                  "breaches": breaches})
    rows = []
    for dataset, slo in load_rules().slos.items():
        history = readings.get(dataset, [])[-SLO_READINGS_SHOWN:]
        rows.append({"dataset": dataset, "slo": slo,
                     "latest": history[-1] if history else None,
                     "lag_points": [(r["when"], r["lag"]) for r in history
                                    if r["lag"] is not None]})
    return {"rows": rows}


def _drift(model: str, region: str, trained_at) -> dict | None:
    """The largest PSI of each scoring run, and the drift a person accepted for the model
    trained at `trained_at`; None before the first measurement."""
    watch = load_rules().drift.get(model)
    worst: dict = defaultdict(float)
    for at, where, measure, value in drift.history(model):
        if where == region and measure.startswith("psi:"):
            worst[_minute(at)] = max(worst[_minute(at)], value)
    if watch is None or not worst:
        return None
    return {"watch": watch, "points": list(worst.items())[-DRIFT_RUNS_SHOWN:],
            "accepted": drift.accepted(model, region, trained_at)}


def consumer_models() -> dict:
    """The model inventory: each consumer model's fitted version kept in each region."""
    now, rows = current_time(), []
    for model in CONSUMER_MODELS:
        for region in model.regions:
            found = kept.load(model.name, region)
            row = {"model": model, "region": region, "kept": found}
            if found is not None:
                row["due"] = kept.retrain_reason(found, model.version, found.rows_seen, now)
                row["drift"] = _drift(model.key, region, found.trained_at)
            rows.append(row)
    return {"rows": rows, "held_out_metrics": HELD_OUT_METRICS,
            "retrain_after_days": kept.RETRAIN_AFTER.days, "retrain_growth": kept.RETRAIN_GROWTH}


def platform() -> dict:
    """The platform metrics tables; the before/after rows of each baseline, and the
    CPU-seconds of the latest runs, when those tables exist."""
    found = read_metrics()
    data: dict = {"tables": found, "baselines": None, "cpu_per_run": None}
    if "baseline_comparison" in found:
        columns, rows = found["baseline_comparison"]
        data["baselines"] = [dict(zip(columns, row, strict=True)) for row in rows]
    if "run_metrics" in found:
        columns, rows = found["run_metrics"]
        at, cpu = columns.index("started_at"), columns.index("cpu_seconds")
        data["cpu_per_run"] = [(f"{row[at]:%Y-%m-%d %H:%M:%S}", float(row[cpu] or 0))
                               for row in rows[-CPU_RUNS_SHOWN:]]
    return data
