"""The governance report: one static HTML page a governance lead can open offline.

Sections: the catalog (every asset with owner, tags, columns and classifications, violations),
the lineage graph (click an asset to light up its lineage), who may read what and why (each
consumer's decision per dataset), retention status, quality history with a plot per suite,
service levels with the freshness history, the incidents alerts opened, and the tail of the
audit log with its verification. Inline CSS and a few lines of inline script; nothing is
fetched from a network.

Kept whole for now: each section queries and renders at once; issue 16 moves the rendering
into templates so a section renders from plain data, and this module shrinks to gathering.
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from orchestration.lib.consumers import drift, kept
from orchestration.lib.consumers.specs import CONSUMER_MODELS
from orchestration.lib.governance.audit_log import entries, verify_log
from orchestration.lib.governance.credentials import credentials
from orchestration.lib.governance.governed_read import decision_for
from orchestration.lib.governance.policy_adapter import project_catalog, project_evaluation
from orchestration.lib.governance.retention import expired_rows
from orchestration.lib.operations.metrics import cell as metric_cell
from orchestration.lib.operations.metrics import read_metrics
from orchestration.lib.operations.slis import history as slo_history
from orchestration.lib.quality.docs import all_rows, write_quality_docs
from orchestration.lib.report.lineage_graph import LEVEL_COLOURS, render_svg
from orchestration.lib.report.oversight import (
    decision_rights_section,
    incidents_section,
    review_section,
)
from orchestration.lib.settings import current_time
from policies.regions import region_names
from policies.retention import retention_plan
from policies.rules import load_rules

AUDIT_TAIL = 25
STYLE = """body{font:14px system-ui,sans-serif;margin:0;color:#1d2433;background:#fafbfc}
header{background:#1d2433;color:#fff;padding:1rem 2rem}header a{color:#cfe0ff;margin-right:1rem}
main{padding:1rem 2rem}section{background:#fff;border:1px solid #e3e6ec;border-radius:8px;
padding:1rem 1.5rem;margin:1rem 0}h2{margin-top:0}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #e3e6ec;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f1f3f7}code{font-size:12px}
.pill{display:inline-block;border-radius:9px;padding:0 .5rem;margin-right:.25rem;font-size:12px;
background:#eef1f6}.ok{color:#17803d}.bad{color:#b42318;font-weight:600}.warn{color:#b54708}
details{margin:.2rem 0}summary{cursor:pointer}#graph{overflow:auto;border:1px solid #e3e6ec}
.edge{fill:none;stroke:#9aa4b5;stroke-width:1.3}.node rect{stroke:#5b6577;stroke-width:1}
.node text{font:12px system-ui,sans-serif}.node{cursor:pointer}
svg.focused .node,svg.focused .edge{opacity:.18}svg.focused .lit{opacity:1}
svg.focused .node.lit rect{stroke-width:2.5}svg.focused .edge.lit{stroke:#1f5fd1;stroke-width:2}
.legend span{display:inline-block;width:12px;height:12px;border:1px solid #5b6577;
margin:0 .3rem 0 1rem;vertical-align:middle}"""
SCRIPT = """const svg=document.getElementById('lineage-graph');
const info=document.getElementById('focus');
function focusOn(n){const key=n.dataset.key;const rel=JSON.parse(n.dataset.related);
const lit=new Set([key,...rel.up,...rel.down]);svg.classList.add('focused');
svg.querySelectorAll('.node').forEach(m=>m.classList.toggle('lit',lit.has(m.dataset.key)));
svg.querySelectorAll('.edge').forEach(e=>e.classList.toggle('lit',
lit.has(e.dataset.from)&&lit.has(e.dataset.to)));
info.innerHTML='<b>'+key+'</b> — upstream: '+(rel.up.join(', ')||'none')+
'; downstream: '+(rel.down.join(', ')||'none')+' · <a href="#asset-'+key+'">catalog entry</a>';}
svg.querySelectorAll('.node').forEach(n=>n.addEventListener('click',()=>focusOn(n)));
document.getElementById('clear').addEventListener('click',()=>{svg.classList.remove('focused');
info.textContent='Click an asset to follow its lineage.';});
const wanted=new URLSearchParams(location.hash.slice(1)).get('focus');
const start=wanted&&[...svg.querySelectorAll('.node')].find(n=>n.dataset.key===wanted);
if(start){focusOn(start);}"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _catalog() -> str:
    evaluation = project_evaluation()
    parts = []
    for asset in project_catalog().topological():
        tags = evaluation.effective[asset.key]
        violations = evaluation.for_asset(asset.key)
        rows = "".join(
            f"<tr><td><code>{_e(name)}</code></td><td>{_e(column.level)}</td>"
            f"<td>{_e(column.reason)}</td><td>{_e(column.mask or '')}</td></tr>"
            for name, column in tags.columns.items())
        flagged = "".join(f"<li class='bad'>{_e(v.rule)} {_e(v.where())}: {_e(v.message)}</li>"
                          for v in violations)
        parts.append(
            f"<details id='asset-{_e(asset.key)}'><summary><b>{_e(asset.key)}</b> "
            f"<span class='pill'>owner {_e(tags.owner or 'unset')}</span>"
            f"<span class='pill'>retention {_e(tags.retention or 'unset')}</span>"
            f"<span class='pill'>region {_e(tags.region or 'unset')}</span>"
            f"<span class='pill'>pii {_e(tags.pii)}</span>"
            f"{'' if asset.stored else '<span class=pill>view</span>'}"
            f"{'<span class=bad>violations</span>' if violations else ''}</summary>"
            f"<p>declared in <code>{_e(asset.declared_in)}</code>; retention "
            f"{_e(tags.retention_source)}</p><table><tr><th>column</th><th>classification</th>"
            f"<th>why</th><th>mask on read</th></tr>{rows}</table>"
            f"{f'<ul>{flagged}</ul>' if flagged else ''}</details>")
    return "".join(parts)


def _tokens(held: list) -> str:
    """A consumer's credentials: active ones by id and expiry, the rest counted."""
    now = current_time()
    active = [c for c in held if not c.ended(now)]
    ended = len(held) - len(active)
    listed = ", ".join(f"<code>{_e(c.token_id)}</code> until {c.expires_at:%Y-%m-%d}"
                       for c in active) or "none active"
    return f"tokens: {listed}{f' ({ended} revoked or expired)' if ended else ''}"


def _access() -> str:
    rules = load_rules()
    held = defaultdict(list)
    for credential in credentials():
        held[credential.consumer].append(credential)
    parts = []
    for consumer in rules.consumers.values():
        rows = []
        for dataset in consumer.datasets:
            decision = decision_for(consumer.name, dataset)
            if not decision.allowed:
                verdict = f"<span class='bad'>denied</span> <code>{_e(decision.rule)}</code>"
                why = decision.reason
            elif decision.masked:
                verdict = "<span class='warn'>allowed, masked</span>"
                why = ", ".join(f"{c} ({a})" for c, a in decision.masked.items())
            else:
                verdict, why = "<span class='ok'>allowed</span>", "nothing above clearance"
            rows.append(f"<tr><td>{_e(dataset)}</td><td>{verdict}</td>"
                        f"<td>{_e(', '.join(decision.regions))}</td><td>{_e(why)}</td></tr>")
        parts.append(
            f"<h3>{_e(consumer.name)}</h3><p>team {_e(consumer.team)}, owner "
            f"{_e(consumer.owner)} · purpose <b>{_e(consumer.purpose)}</b> · regions "
            f"{_e(', '.join(consumer.regions))} · clearance {_e(consumer.clearance)}"
            f"{' · legal basis: ' + _e(consumer.legal_basis) if consumer.legal_basis else ''}"
            f" · {_tokens(held[consumer.name])}</p><table><tr><th>dataset</th>"
            f"<th>decision</th><th>regions</th><th>why</th></tr>"
            f"{''.join(rows)}</table>")
    return ("<p>Every other dataset is denied to each consumer (not declared). Decisions are "
            "the ones the governed read path and the consumer models apply; a team reads "
            "through the read service with one of its tokens.</p>"
            + "".join(parts))


def _retention() -> str:
    plan = retention_plan(project_catalog(), project_evaluation().effective, current_time())
    rows = []
    for target in plan.targets:
        counts = {r: expired_rows(target.asset, target.event_time, target.cutoff, r)
                  for r in region_names()}
        late = sum(counts.values())
        status = (f"<span class='bad'>{late:,} row(s) past retention</span>" if late
                  else "<span class='ok'>within retention</span>")
        rows.append(f"<tr><td>{_e(target.asset)}</td><td>{_e(target.retention)}</td>"
                    f"<td><code>{_e(target.event_time)}</code></td>"
                    f"<td>{target.cutoff:%Y-%m-%d}</td><td>{status}</td></tr>")
    return ("<table><tr><th>asset</th><th>retention</th><th>event time</th>"
            f"<th>rows before</th><th>status</th></tr>{''.join(rows)}</table>"
            f"<p>Rebuilt from purged inputs: {_e(', '.join(plan.rebuilt))}.</p>")


def _bars(points: list[tuple[str, float]]) -> str:
    """Pass rate per run as a small bar chart, oldest left."""
    width = max(1, len(points)) * 10
    bars = "".join(
        f"<rect x='{i * 10}' y='{30 - 30 * rate:.1f}' width='8' height='{30 * rate:.1f}' "
        f"fill='{'#17803d' if rate == 1 else '#b54708'}'><title>{_e(when)}: {rate:.0%}"
        f"</title></rect>" for i, (when, rate) in enumerate(points))
    return f"<svg class='plot' width='{width}' height='30'>{bars}</svg>"


def _quality() -> str:
    runs: dict[tuple[str, str], dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    stamp: dict[str, str] = {}
    for suite, _, region, _, _, success, *_, run_id, validated_at in all_rows():
        runs[(suite, region)][run_id].append(bool(success))
        stamp[run_id] = f"{validated_at:%Y-%m-%d %H:%M}"
    rows = []
    for (suite, region), by_run in sorted(runs.items()):
        ordered = sorted(by_run.items(), key=lambda item: stamp[item[0]])[-40:]
        points = [(stamp[run], sum(results) / len(results)) for run, results in ordered]
        last = points[-1][1]
        rows.append(f"<tr><td>{_e(suite)}</td><td>{region}</td><td>{len(points)}</td>"
                    f"<td class='{'ok' if last == 1 else 'warn'}'>{last:.0%}</td>"
                    f"<td>{_bars(points)}</td></tr>")
    return ("<p>Expectations met per validation run; details in "
            "<a href='quality.html'>the data-quality page</a>.</p><table><tr><th>suite</th>"
            "<th>region</th><th>runs</th><th>latest</th><th>history</th></tr>"
            f"{''.join(rows)}</table>" if rows else "<p>No validation has run yet.</p>")


def _value_plot(points: list[tuple[str, float]], unit: str, objective: float | None = None
                ) -> str:
    """One bar per measurement, oldest left; with an objective, a dashed line and red bars
    above it."""
    top = max([(objective or 0) * 1.25, *(value for _, value in points), 1e-9])
    bars = "".join(
        f"<rect x='{i * 6}' y='{40 - 40 * value / top:.1f}' width='5' "
        f"height='{40 * value / top:.1f}' "
        f"fill='{'#b42318' if objective and value > objective else '#1f5fd1'}'>"
        f"<title>{_e(when)}: {value:.1f}{unit}</title></rect>"
        for i, (when, value) in enumerate(points))
    width = max(60, len(points) * 6)
    line = "" if objective is None else (
        f"<line x1='0' x2='{width}' y1='{40 - 40 * objective / top:.1f}' "
        f"y2='{40 - 40 * objective / top:.1f}' stroke='#5b6577' stroke-dasharray='3 3'/>")
    return f"<svg class='plot' width='{width}' height='40'>{bars}{line}</svg>"


def _slos() -> str:
    slos = load_rules().slos
    readings = defaultdict(list)
    for at, dataset, *values in slo_history():
        readings[dataset].append((f"{at:%Y-%m-%d %H:%M}", *values))

    def shown(value, unit=""):
        return "-" if value is None else f"{value:.2f}{unit}"

    rows = []
    for dataset, slo in slos.items():
        history = readings.get(dataset, [])[-60:]
        if not history:
            rows.append(f"<tr><td>{_e(dataset)}</td><td colspan='6'>not measured yet</td></tr>")
            continue
        _, runs, success, _, p95, lag, checks, breaches = history[-1]
        status = (f"<span class='bad'>{_e(breaches)}</span>" if breaches
                  else "<span class='ok'>met</span>")
        plot = _value_plot([(when, v[4]) for when, *v in history if v[4] is not None], "h",
                           slo.freshness_hours)
        rows.append(
            f"<tr><td>{_e(dataset)}</td><td>{runs}</td><td>{shown(success)} "
            f"(≥ {slo.success_rate:g})</td><td>{shown(p95, 's')} (≤ {slo.latency_p95_seconds:g}s)"
            f"</td><td>{shown(lag, 'h')} (≤ {slo.freshness_hours:g}h)</td><td>{shown(checks)} "
            f"(≥ {slo.check_pass_rate:g})</td><td>{status}</td><td>{plot}</td></tr>")
    return ("<p>Measured over the last days of Dagster history after every run "
            "(<code>steward slo</code>); objectives in <code>policies/slos.yaml</code>.</p>"
            "<table><tr><th>dataset</th><th>runs</th><th>success rate</th><th>latency p95</th>"
            "<th>freshness lag</th><th>check pass rate</th><th>status</th>"
            f"<th>freshness lag history</th></tr>{''.join(rows)}</table>")


HELD_OUT_METRICS = ("roc_auc", "accuracy", "macro_f1")


def _drift_trend(model: str, region: str, accepted: drift.Acceptance | None) -> str:
    """The largest PSI of each scoring run, oldest left, against the model's warn_psi; the
    drift a person accepted for the kept model."""
    watch = load_rules().drift.get(model)
    worst: dict = defaultdict(float)
    for at, where, measure, value in drift.history(model):
        if where == region and measure.startswith("psi:"):
            worst[f"{at:%Y-%m-%d %H:%M}"] = max(worst[f"{at:%Y-%m-%d %H:%M}"], value)
    if watch is None or not worst:
        return "not measured yet"
    points = list(worst.items())[-60:]
    last = points[-1][1]
    level = "bad" if last >= watch.block_psi else "warn" if last >= watch.warn_psi else "ok"
    return (f"<span class='{level}'>{last:.3f}</span> "
            + _value_plot(points, "", watch.warn_psi)
            + (f"<br>accepted up to {accepted.up_to_psi:.3f} by {_e(accepted.accepted_by)}: "
               f"{_e(accepted.note)}" if accepted else ""))


def _consumer_models() -> str:
    """The model inventory: each consumer model's fitted version kept in each region."""
    now, rows = current_time(), []
    for model in CONSUMER_MODELS:
        for region in model.regions:
            found = kept.load(model.name, region)
            cells = [_e(model.key), _e(model.consumer), _e(region)]
            if found is None:
                cells += ["—", "not trained yet", "", "", "", "trains", ""]
            else:
                due = kept.retrain_reason(found, model.version, found.rows_seen, now)
                cells += [
                    _e(found.version), f"{found.trained_at:%Y-%m-%d %H:%M}",
                    f"{found.training.get('rows_trained', 0):,}",
                    _e(", ".join(f"{name} {found.training[name]}" for name in HELD_OUT_METRICS
                                 if name in found.training)),
                    "<span class='ok'>holds</span>" if found.model is not None
                    else "<span class='bad'>does not hold</span>",
                    _e(f"retrains: {due}") if due else "scores with it",
                    _drift_trend(model.key, region,
                                 drift.accepted(model.key, region, found.trained_at))]
            rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return ("<p>Each consumer model's fitted version, kept in its region's store and signed. "
            "The next run retrains it when due: new model code, older than "
            f"{kept.RETRAIN_AFTER.days} days, inputs grown by over {kept.RETRAIN_GROWTH:.0%}, "
            "or an erasure, a retention purge or a rule change since it was trained. Each "
            "scoring run measures how far the population it scores drifted from the training "
            "one (<code>policies/drift.yaml</code>): past a model's block_psi it stops scoring "
            "that region until retrained, or until a person accepts the drift "
            "(<code>steward drift accept</code>).</p>"
            "<table><tr><th>model</th><th>consumer</th><th>region</th><th>version</th>"
            "<th>trained (UTC)</th><th>rows trained</th><th>held-out quality</th>"
            "<th>signature</th><th>next run</th><th>drift: max PSI per run (line: warn_psi)"
            f"</th></tr>{''.join(rows)}</table>")


def _metrics_table(columns: list[str], rows: list[tuple]) -> str:
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(metric_cell(v))}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _change(row: dict) -> str:
    """A before/after row's change, green when it went the better way, red when worse."""
    change, better = row["change"], row["better"]
    if change is None or not better or change == 0:
        return _e(metric_cell(change))
    good = (change > 0) == (better == "higher")
    return f"<span class='{'ok' if good else 'bad'}'>{_e(metric_cell(change))}</span>"


def _platform() -> str:
    found = read_metrics()
    if not found:
        return "<p>No platform metrics yet: <code>make run</code> builds them.</p>"
    parts = ["<p>dbt models over Steward's own telemetry (<code>dbt_project/models/platform"
             "</code>, in the global store), rebuilt after every <code>make run</code> and "
             "hourly. Exceptions sent to humans: alerts, plus loads that quarantined rows or "
             "refused a file. CPU-seconds: the steps' own processes and the dbt they ran.</p>"]
    for table, title in (("source_metrics", "Per source"), ("consumer_metrics", "Per consumer")):
        if table in found:
            parts.append(f"<h3>{title}</h3>{_metrics_table(*found[table])}")
    if "baseline_comparison" in found:
        columns, rows = found["baseline_comparison"]
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        body = "".join(
            f"<tr><td>{_e(r['baseline'])}</td><td>{r['pinned_at']:%Y-%m-%d %H:%M}</td>"
            f"<td>{_e(r['metric'].replace('_', ' '))}</td><td>{_e(metric_cell(r['before']))}</td>"
            f"<td>{_e(metric_cell(r['after']))}</td><td>{_change(r)}</td></tr>" for r in records)
        parts.append("<h3>Before and after each baseline</h3><p>Per run, the runs before the "
                     "baseline against the runs after it; pin one with <code>steward metrics "
                     "baseline LABEL</code>.</p><table><tr><th>baseline</th><th>pinned</th>"
                     f"<th>metric</th><th>before</th><th>after</th><th>change</th></tr>{body}"
                     "</table>")
    if "run_metrics" in found:
        columns, rows = found["run_metrics"]
        at, cpu = columns.index("started_at"), columns.index("cpu_seconds")
        latest = rows[-80:]
        parts.append("<h3>CPU-seconds per run</h3>" + _value_plot(
            [(f"{row[at]:%Y-%m-%d %H:%M:%S}", float(row[cpu] or 0)) for row in latest], "s"))
    return "".join(parts)


def _audit() -> str:
    count, breaks = verify_log()
    problems = "; ".join(f"entry {b.seq}: {b.problem}" for b in breaks)
    status = (f"<p class='ok'>Hash chain intact: {count} entries verified.</p>" if not breaks
              else f"<p class='bad'>TAMPERED: {_e(problems)}</p>")
    rows = "".join(
        f"<tr><td>{e.seq}</td><td>{_e(e.at[:19])}</td><td>{_e(e.kind)}</td>"
        f"<td>{_e(e.subject)}</td><td><code>{_e(str(e.details)[:160])}</code></td></tr>"
        for e in reversed(entries()[-AUDIT_TAIL:]))
    return (f"{status}<table><tr><th>#</th><th>at (UTC)</th><th>kind</th><th>subject</th>"
            f"<th>details</th></tr>{rows}</table>")


def render_page() -> str:
    evaluation = project_evaluation()
    legend = "".join(f"<span style='background:{colour}'></span>{level}"
                     for level, colour in LEVEL_COLOURS.items())
    sections = [
        ("catalog", "Catalog", _catalog()),
        ("lineage", "Lineage",
         f"<p class='legend'>PII level:{legend}</p><p><span id='focus'>Click an asset to "
         f"follow its lineage.</span> <button id='clear'>clear</button></p>"
         f"<div id='graph'>{render_svg(project_catalog(), evaluation.effective)}</div>"),
        ("access", "Who may read what, and why", _access()),
        ("retention", "Retention", _retention()),
        ("quality", "Data quality", _quality()),
        ("slos", "Service levels", _slos()),
        ("models", "Consumer models", _consumer_models()),
        ("approvals", "Decision rights and approvals", decision_rights_section()),
        ("platform", "Platform metrics", _platform()),
        ("review", "Review queue", review_section()),
        ("incidents", "Incidents", incidents_section()),
        ("audit", f"Audit log (latest {AUDIT_TAIL})", _audit()),
    ]
    nav = "".join(f"<a href='#{anchor}'>{title.split(',')[0]}</a>"
                  for anchor, title, _ in sections)
    verdict = ("<span class='ok'>no policy violations</span>" if evaluation.ok else
               f"<span class='bad'>{len(evaluation.violations)} policy violation(s)</span>")
    body = "".join(f"<section id='{anchor}'><h2>{title}</h2>{content}</section>"
                   for anchor, title, content in sections)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Steward governance "
            f"report</title><style>{STYLE}</style></head><body><header><h1>Steward governance "
            f"report</h1><p>{len(evaluation.effective)} assets · {verdict} · generated "
            f"{current_time():%Y-%m-%d %H:%M} UTC</p><nav>{nav}</nav></header><main>{body}"
            f"</main><script>{SCRIPT}</script></body></html>")


def write_report(folder: Path) -> Path:
    """Write index.html (governance) and quality.html into `folder`; returns the index."""
    folder.mkdir(parents=True, exist_ok=True)
    write_quality_docs(folder / "quality.html")
    index = folder / "index.html"
    index.write_text(render_page(), encoding="utf-8")
    return index
