"""A static HTML page of validation results (latest run per suite and region, then history),
read from every region's `_steward.quality_results`. Offline: no scripts, no CDN."""

from __future__ import annotations

import html
from pathlib import Path

from orchestration.lib.quality.history import Recorded, recorded_everywhere

HISTORY_RUNS_SHOWN = 50  # the latest validations the history table lists

STYLE = """body{font:14px system-ui,sans-serif;margin:2rem;color:#1d2433}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #d5d9e2;
padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f1f3f7}
.ok{color:#17803d}.error{color:#b42318;font-weight:600}.warning{color:#b54708}
code{font-size:12px}"""


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


def render(rows: list[Recorded]) -> str:
    """The page: the latest validation of each suite in each region, then the latest runs."""
    validations: dict[tuple[str, str, str], list[Recorded]] = {}
    for row in rows:  # newest first, so a suite's first validation here is its latest
        validations.setdefault((row.suite, row.region, row.run_id), []).append(row)
    latest: dict[tuple[str, str], list[Recorded]] = {}
    for (suite, region, _), results in validations.items():
        latest.setdefault((suite, region), results)
    sections = []
    for (suite, region), current in sorted(latest.items()):
        body = "".join(
            f"<tr><td><code>{html.escape(r.expectation)}</code></td>"
            f"<td>{_status(r.success, r.severity)}</td>"
            f"<td>{_shown(r.observed)}</td><td>{_shown(r.unexpected_count)}</td>"
            f"<td><code>{_shown(r.unexpected_sample)}</code></td>"
            f"<td>{html.escape(r.error or '')}</td></tr>" for r in current)
        first = current[0]
        sections.append(
            f"<h2>{html.escape(suite)} · {html.escape(first.asset)} · {region}</h2>"
            f"<p>run {html.escape(first.run_id)} at {first.validated_at:%Y-%m-%d %H:%M:%S}"
            f"{_kept(first.kept_from)}</p><table>"
            "<tr><th>expectation</th><th>result</th><th>observed</th><th>unexpected</th>"
            f"<th>sample of unexpected values</th><th>error</th></tr>{body}</table>")
    runs = sorted(((results[0].validated_at.strftime("%Y-%m-%d %H:%M"), *key)
                   for key, results in validations.items()), reverse=True)[:HISTORY_RUNS_SHOWN]
    history = "".join(
        f"<tr><td>{when}</td><td>{html.escape(suite)}</td><td>{region}</td>"
        f"<td>{_met(validations[suite, region, run])}</td></tr>"
        for when, suite, region, run in runs)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Steward data quality"
            f"</title><style>{STYLE}</style></head><body><h1>Data quality</h1>"
            f"{''.join(sections) or '<p>No validation has run yet.</p>'}"
            f"<h2>History</h2><table><tr><th>when</th><th>suite</th><th>region</th>"
            f"<th>expectations met</th></tr>{history}</table></body></html>")


def _met(results: list[Recorded]) -> str:
    """How many of a validation's expectations it met, of how many: "3 / 5"."""
    return f"{sum(r.success for r in results)} / {len(results)}"


def write_quality_docs(target: Path) -> Path:
    rows = recorded_everywhere(HISTORY_RUNS_SHOWN)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(rows), encoding="utf-8")
    return target
