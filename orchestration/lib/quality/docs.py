"""A static HTML page of validation results (latest run per suite and region, then history),
read from every region's `_steward.quality_results`. Offline: no scripts, no CDN."""

from __future__ import annotations

import html
from pathlib import Path

from orchestration.lib.quality.history import HISTORY_TABLE
from orchestration.lib.warehouse import store_path, table_columns, table_if_present
from policies.regions import every_store

STYLE = """body{font:14px system-ui,sans-serif;margin:2rem;color:#1d2433}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #d5d9e2;
padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f1f3f7}
.ok{color:#17803d}.error{color:#b42318;font-weight:600}.warning{color:#b54708}
code{font-size:12px}"""


def _rows(region: str) -> list[tuple]:
    schema, table = HISTORY_TABLE.split(".")
    with table_if_present(store_path(region), schema, table) as con:
        if con is None:
            return []
        # A history no run has written to since outcomes were kept has no kept_from yet.
        kept_from = "kept_from" if "kept_from" in table_columns(con, schema, table) else "NULL"
        return con.execute(
            f"SELECT suite, asset, region, expectation, severity, success, observed, "
            f"unexpected_count, unexpected_sample, error, run_id, validated_at, {kept_from} "
            f"FROM {HISTORY_TABLE} ORDER BY validated_at DESC").fetchall()


def _shown(value: object) -> str:
    return "" if value in (None, "null", "[]") else html.escape(str(value))


def _status(success: bool, severity: str) -> str:
    if success:
        return '<span class="ok">passed</span>'
    return f'<span class="{severity}">failed ({severity})</span>'


def _kept(kept_from: object) -> str:
    if kept_from is None:
        return ""
    return (f": not validated again, the outcome of {kept_from:%Y-%m-%d %H:%M:%S} kept "
            "(the table, the suite and the validator were unchanged)")


def render(rows: list[tuple]) -> str:
    latest: dict[tuple[str, str], str] = {}
    for suite, _, region, *_, run_id, _, _ in rows:
        latest.setdefault((suite, region), run_id)
    sections = []
    for (suite, region), run_id in sorted(latest.items()):
        current = [r for r in rows if (r[0], r[2], r[10]) == (suite, region, run_id)]
        body = "".join(
            f"<tr><td><code>{html.escape(r[3])}</code></td><td>{_status(r[5], r[4])}</td>"
            f"<td>{_shown(r[6])}</td><td>{_shown(r[7])}</td>"
            f"<td><code>{_shown(r[8])}</code></td>"
            f"<td>{html.escape(r[9] or '')}</td></tr>" for r in current)
        sections.append(
            f"<h2>{html.escape(suite)} · {html.escape(current[0][1])} · {region}</h2>"
            f"<p>run {html.escape(run_id)} at {current[0][11]:%Y-%m-%d %H:%M:%S}"
            f"{_kept(current[0][12])}</p><table>"
            "<tr><th>expectation</th><th>result</th><th>observed</th><th>unexpected</th>"
            f"<th>sample of unexpected values</th><th>error</th></tr>{body}</table>")
    runs = sorted({(r[11].strftime("%Y-%m-%d %H:%M"), r[0], r[2], r[10]) for r in rows},
                  reverse=True)[:50]
    history = "".join(
        f"<tr><td>{when}</td><td>{html.escape(suite)}</td><td>{region}</td>"
        f"<td>{sum(1 for r in rows if r[10] == run and r[0] == suite and r[2] == region and r[5])}"
        f" / {sum(1 for r in rows if r[10] == run and r[0] == suite and r[2] == region)}</td></tr>"
        for when, suite, region, run in runs)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Steward data quality"
            f"</title><style>{STYLE}</style></head><body><h1>Data quality</h1>"
            f"{''.join(sections) or '<p>No validation has run yet.</p>'}"
            f"<h2>History</h2><table><tr><th>when</th><th>suite</th><th>region</th>"
            f"<th>expectations met</th></tr>{history}</table></body></html>")


def all_rows() -> list[tuple]:
    """Every recorded expectation result of every store, newest first per store: each
    region's, and the global one's (the suites of Steward's telemetry and metrics)."""
    return [row for region in every_store() for row in _rows(region)]


def write_quality_docs(target: Path) -> Path:
    rows = all_rows()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(rows), encoding="utf-8")
    return target
