"""``report.html``: one self-contained page (inline CSS, hand-written SVG, no script, no fetch).

Why hand-written SVG: the charts are bars and lines (funnel, reasons, histograms with
threshold lines, mixes, timings), a few dozen lines of code each; a plotting library would add
a dependency of tens of MiB (matplotlib) or inline ~3 MiB of JavaScript per page (plotly) for
nothing the page needs, and a template engine (jinja2) is not installed. The page opens offline,
weighs tens of KiB, and every piece of text from the data goes through ``html.escape``.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dce3;padding-bottom:4px}
h3{font-size:14px;margin:14px 0 6px}
.meta{color:#5a6272;font-size:12px} code{font-size:12px;background:#eef0f4;padding:1px 4px;border-radius:3px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:14px 0}
.card{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;background:#fff;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #d8dce3;padding:3px 8px;text-align:left;vertical-align:top} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
figure{background:#fff;border:1px solid #d8dce3;border-radius:6px;margin:0;padding:8px}
figcaption{font-size:12px;color:#5a6272;margin-bottom:4px}
.ok{background:#e6f4ea;border:1px solid #7cc08f;padding:8px 12px;border-radius:6px}
.fail{background:#fdecea;border:1px solid #e0867c;padding:8px 12px;border-radius:6px}
.ex{font-family:ui-monospace,Menlo,monospace;font-size:12px;white-space:pre-wrap;word-break:break-word;margin:2px 0;color:#333}
details summary{cursor:pointer}
svg text{font:11px system-ui,sans-serif;fill:#333}
"""

KEPT, REJECTED, LINE, ADDED = "#3b73b9", "#e07b39", "#c62828", "#4caf50"


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return esc(value)


def _short(x: float) -> str:
    a = abs(x)
    if a >= 1e9:
        return f"{x / 1e9:.3g}G"
    if a >= 1e6:
        return f"{x / 1e6:.3g}M"
    if a >= 1e4:
        return f"{x / 1e3:.3g}k"
    return f"{x:.4g}"


def hbars(name: str, rows: list[tuple[str, list[tuple[float, str]]]], unit: str = "") -> str:
    """Horizontal stacked bars: one row per label, segments (value, colour)."""
    if not rows:
        return ""
    width, label_w, bar_h, gap = 560, 190, 16, 6
    top = max((sum(v for v, _ in segs) for _, segs in rows), default=0) or 1
    height = len(rows) * (bar_h + gap) + 8
    out = [f'<svg class="chart" data-chart="{esc(name)}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    for i, (label, segs) in enumerate(rows):
        y = 4 + i * (bar_h + gap)
        out.append(f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">{esc(label[:32])}</text>')
        x = float(label_w)
        total = 0.0
        for value, colour in segs:
            w = (width - label_w - 70) * value / top
            if w > 0:
                out.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" fill="{colour}"><title>{esc(label)}: {num(value)}{esc(unit)}</title></rect>')
            x += w
            total += value
        out.append(f'<text x="{x + 4:.1f}" y="{y + bar_h - 4}">{esc(_short(total))}{esc(unit)}</text>')
    out.append("</svg>")
    return "".join(out)


def histogram_svg(h: dict[str, Any]) -> str:
    """Kept (blue) and rejected (orange) counts stacked per bin, thresholds as red lines."""
    width, height, left, bottom, top = 360, 180, 40, 28, 10
    edges, kept, rej = h["edges"], h["kept"], h["rejected"]
    n = len(kept)
    peak = max((k + r for k, r in zip(kept, rej, strict=True)), default=0) or 1
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    plot_w, plot_h = width - left - 8, height - bottom - top

    def x_of(v: float) -> float:
        return left + plot_w * (v - lo) / span

    out = [f'<svg class="chart" data-chart="hist-{esc(h["column"])}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img">']
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>')
    for i in range(n):
        x0, x1 = x_of(edges[i]), x_of(edges[i + 1])
        w = max(x1 - x0 - 1, 1)
        y = top + plot_h
        for count, colour, what in ((kept[i], KEPT, "kept"), (rej[i], REJECTED, "rejected")):
            if count:
                bh = max(plot_h * count / peak, 1)
                y -= bh
                out.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bh:.1f}" fill="{colour}"><title>{esc(_short(edges[i]))}..{esc(_short(edges[i + 1]))}: {count} {what}</title></rect>')
    for t in h.get("thresholds", []):
        x = x_of(float(t["value"]))
        out.append(f'<line class="threshold" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{LINE}" stroke-width="2" stroke-dasharray="4 2"><title>{esc(t["rule"])}: {esc(h["column"])} {esc(t["op"])} {esc(t["value"])}</title></line>')
        out.append(f'<text x="{x + 3:.1f}" y="{top + 10}" fill="{LINE}">keep {esc(t["op"])} {esc(_short(float(t["value"])))}</text>')
    out.append(f'<text x="{left}" y="{height - 8}">{esc(_short(lo))}</text><text x="{left + plot_w}" y="{height - 8}" text-anchor="end">{esc(_short(hi))}</text>')
    out.append(f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{esc(_short(peak))}</text>')
    out.append("</svg>")
    return "".join(out)


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f'<th class="{"n" if i in numeric else ""}">{esc(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="{"n" if i in numeric else ""}">{num(c) if i in numeric else esc(c)}</td>' for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _gates(g: dict[str, Any] | None) -> str:
    if not g:
        return ""
    cls = "ok" if g["passed"] else "fail"
    title = "All gates passed" if g["passed"] else "Gate failed: the release was not published"
    rows = [[r["gate"], r["value"], r["limit"], "pass" if r["passed"] else ("not checked" if r["passed"] is None else "FAIL"), r["message"]] for r in g["results"]]
    return f'<section id="gates"><h2>Gates</h2><div class="{cls}"><b>{esc(title)}</b></div>' + _table(["gate", "value", "limit", "result", "detail"], rows) + "</section>"


def render(report: dict[str, Any]) -> str:
    """The page for ``report`` (a dict from ``collect.build_report``)."""
    run, totals = report.get("run") or {}, report.get("totals") or {}
    parts: list[str] = []
    versions = ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items())
    parts.append(f"<h1>curate report</h1><div class='meta'>{esc(report['kind'])} <code>{esc(report['path'])}</code> · run <code>{esc(run.get('run_id'))}</code> · config hash <code>{esc(run.get('config_hash'))}</code> · seed {esc(run.get('seed'))} · finished {esc(run.get('finished_at'))} · {esc(versions)}</div>")
    cards = [("documents in", totals.get("docs_in")), ("documents out", totals.get("docs_out")), ("rejected", totals.get("docs_rejected")), ("added", totals.get("docs_added"))]
    tokens = report.get("tokens") or {}
    if tokens.get("total") is not None:
        cards.append(("tokens out", tokens["total"]))
    if run.get("wall_seconds") is not None:
        cards.append(("wall seconds", run["wall_seconds"]))
    parts.append('<div class="cards">' + "".join(f'<div class="card"><b>{num(v)}</b>{esc(k)}</div>' for k, v in cards) + "</div>")
    parts.append(_gates(report.get("gates")))
    funnel = report.get("funnel") or []
    if funnel:
        parts.append("<section id='funnel'><h2>Funnel</h2><figure><figcaption>documents kept (blue), rejected (orange) and added (green) per step</figcaption>")
        parts.append(hbars("funnel", [(f["step"], [(f["docs_kept"] - f["docs_added"], KEPT), (f["docs_rejected"], REJECTED), (f["docs_added"], ADDED)]) for f in funnel]))
        parts.append("</figure>")
        rows = [[f["step"], f["docs_in"], f["docs_rejected"], f["docs_added"], f["docs_kept"], f.get("tokens"), f["bytes_written"], f["wall_seconds"], f["cpu_seconds"]] for f in funnel]
        parts.append(_table(["step", "in", "rejected", "added", "kept", "tokens", "bytes written", "wall s", "cpu s"], rows, {1, 2, 3, 4, 5, 6, 7, 8}) + "</section>")
    reasons = report.get("reasons") or []
    if reasons:
        parts.append("<section id='reasons'><h2>Removal reasons</h2><figure><figcaption>documents removed per step and reason</figcaption>")
        parts.append(hbars("reasons", [(f"{r['step'][3:]}: {r['reason']}", [(r["count"], REJECTED)]) for r in reasons[:40]]))
        parts.append("</figure>")
        for r in reasons:
            parts.append(f"<details><summary><b>{esc(r['step'])}</b> · {esc(r['reason'])}: {num(r['count'])} ({r['share_of_step_input'] * 100:.2f} % of the step's input)</summary>")
            for ex in r["examples"]:
                link = f' · <a href="{esc(quote(ex["file"]))}">{esc(ex["file"])}</a>' if ex.get("file") else ""
                detail = f" · {esc(ex['detail'])}" if ex.get("detail") else ""
                parts.append(f"<div class='meta'>id <code>{esc(ex['id'])}</code>{detail}{link}</div><div class='ex'>{esc(ex['text'])}</div>")
            parts.append("</details>")
        parts.append("</section>")
    hists = report.get("histograms") or []
    if hists:
        sample = report.get("sample") or {}
        parts.append(f"<section id='signals'><h2>Scores and signals</h2><div class='meta'>sample: {num(sample.get('rows'))} kept rows (blue), {num(sample.get('rejected_rows'))} rows the filters rejected (orange); {esc(sample.get('how'))}; dashed red lines are the filter thresholds</div><div class='grid'>")
        for h in hists:
            parts.append(f"<figure><figcaption>{esc(h['column'])}</figcaption>{histogram_svg(h)}</figure>")
        parts.append("</div></section>")
    mixes = []
    if report.get("sources"):
        mixes.append(("sources", "documents per source in the output", sorted(report["sources"].items(), key=lambda kv: -kv[1])))
    if report.get("splits"):
        mixes.append(("splits", "documents per split", list(report["splits"].items())))
    if report.get("languages"):
        mixes.append(("languages", f"language of {num(report['languages']['sample_rows'])} sampled documents", list(report["languages"]["counts"].items())))
    if report.get("cluster_sizes"):
        mixes.append(("clusters", f"duplicate cluster size of {num(report['cluster_sizes']['sample_rows'])} sampled survivors", list(report["cluster_sizes"]["counts"].items())))
    if mixes:
        parts.append("<section id='mix'><h2>Mix</h2><div class='grid'>")
        for name, caption, items in mixes:
            parts.append(f"<figure><figcaption>{esc(caption)}</figcaption>{hbars(name, [(str(k), [(float(v), KEPT)]) for k, v in items[:20]])}</figure>")
        parts.append("</div></section>")
    for d in report.get("dedup") or []:
        parts.append(f"<h3>{esc(d['step'])}</h3>" + _table(["counter", "value"], [[k, v] for k, v in sorted(d["counters"].items())], {1}))
    for entry in report.get("pii") or []:
        rows = [[t, v["found"], v["documents"], v["vetoed"], v["invalid"]] for t, v in entry["table"].items()]
        parts.append(f"<section id='pii'><h2>Personal data · {esc(entry['step'])}</h2>" + _table(["type", "found", "documents", "vetoed", "failed validation"], rows, {1, 2, 3, 4}) + "</section>")
    for entry in report.get("contamination") or []:
        rows = [[t, v["items"], v["items_too_short"], v["items_hit"], v["documents"], v["chars_removed"]] for t, v in entry["table"].items()]
        parts.append(f"<section id='contamination'><h2>Contamination · {esc(entry['step'])}</h2>" + _table(["eval set", "items", "too short", "items found", "documents", "chars removed"], rows, {1, 2, 3, 4, 5}) + "</section>")
    for entry in report.get("selection") or []:
        t = entry["table"]
        rows = [[s, v["target"], v["achieved"], v["share"], v["in_docs"], v["kept_docs"]] for s, v in t["sources"].items()]
        parts.append(f"<section id='selection'><h2>Selection · {esc(entry['step'])}</h2><div class='meta'>unit {esc(t['unit'])}: target {num(t['target'])}, achieved {num(t['achieved'])}</div>")
        if any(v["target"] for v in t["sources"].values()):
            parts.append(hbars("selection", [(s, [(float(v["achieved"] or 0), KEPT)]) for s, v in t["sources"].items()] + [(f"{s} (target)", [(float(v["target"] or 0), ADDED)]) for s, v in t["sources"].items()]))
        parts.append(_table(["source", "target", "achieved", "share", "documents in", "documents kept"], rows, {1, 2, 3, 4, 5}) + "</section>")
    for entry in report.get("token_counts") or []:
        t = entry["table"]
        parts.append(f"<section id='tokens'><h2>Tokens · {esc(entry['step'])}</h2><div class='meta'>tokenizer {esc(t['tokenizer'])}, total {num(t['total'])}</div>" + _table(["source", "tokens"], [[k, v] for k, v in t["by_source"].items()], {1}) + "</section>")
    diff = report.get("diff")
    if diff:
        parts.append(_diff_section(diff))
    if funnel:
        parts.append("<section id='timings'><h2>Timings</h2><figure><figcaption>wall seconds per step</figcaption>")
        parts.append(hbars("timings", [(f["step"], [(max(f["wall_seconds"], 0.0), KEPT)]) for f in funnel], " s"))
        parts.append("</figure></section>")
    body = "".join(p for p in parts if p)
    return f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'><title>curate report</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>\n"


def _diff_section(diff: dict[str, Any]) -> str:
    out = [f"<section id='diff'><h2>Changes since the previous release</h2><div class='meta'>previous <code>{esc(diff.get('old'))}</code></div>"]
    d = diff.get("documents", {})
    out.append(_table(["documents", "count"], [[k, v] for k, v in d.items()], {1}))
    by_source = diff.get("by_source") or {}
    if by_source:
        rows = [[s, v["old"], v["new"], v["added"], v["removed"], v["kept"]] for s, v in by_source.items()]
        out.append(_table(["source", "old", "new", "added", "removed", "kept"], rows, {1, 2, 3, 4, 5}))
    why = diff.get("removed_by_reason") or {}
    if why:
        out.append(_table(["why removed documents are gone", "documents"], [[k, v] for k, v in why.items()], {1}))
    tokens = diff.get("tokens")
    if tokens:
        out.append(_table(["tokens", "old", "new", "delta"], [["total", tokens["old"], tokens["new"], tokens["delta"]]], {1, 2, 3}))
    shifts = [s for s in diff.get("signals", []) if s.get("ks") is not None]
    if shifts:
        out.append(hbars("score-shift", [(s["column"], [(float(s["ks"]), LINE)]) for s in shifts[:30]]))
        out.append(_table(["signal", "KS statistic", "old mean", "new mean"], [[s["column"], s["ks"], s["old_mean"], s["new_mean"]] for s in shifts], {1, 2, 3}))
    out.append("</section>")
    return "".join(out)

