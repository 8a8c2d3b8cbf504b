"""The release report (``report.json`` + ``report.html``), ``curate inspect``, ``curate diff`` and gates.

Where the report goes: every ``curate run`` writes ``report.json`` and ``report.html`` into its
workdir; a run with ``output:`` also puts them in the release, beside ``_manifest.json`` and the
dataset card, so they are published (and replaced) with the data. They are written before the
release is swapped in, with the gates' verdict in them; when a gate fails, only the workdir copy
exists (the release is not published). ``curate report PATH`` writes them for any folder curate
wrote. Module map: ``folders`` (what a folder holds), ``sample`` (bounded row samples),
``collect`` (report.json), ``html`` (the page), ``diff``, ``gates``, ``inspect``.

This package imports nothing heavy at import time (the config imports ``gates``).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"


def write_report(report: dict[str, Any], folder: Path, *, link_base: str | None = None) -> Path:
    """Write ``report.json`` and ``report.html`` into ``folder`` (atomically); the page's path.

    ``link_base="workdir"`` rewrites the examples' links to the workdir's own rejected files
    (``_rejected/NN_step-part-X.parquet`` -> ``NN_step/rejected/part-X.parquet``)."""
    from curate.io.shards import write_bytes_atomic
    from curate.reporting.html import render

    if link_base == "workdir":
        report = json.loads(json.dumps(report))
        for r in report.get("reasons") or []:
            for ex in r["examples"]:
                m = re.match(r"^_?rejected/(\d{2}_[a-z0-9_]+)-(part-.*)$", ex.get("file") or "")
                if m:
                    ex["file"] = f"{m.group(1)}/rejected/{m.group(2)}"
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic((json.dumps(report, indent=2, sort_keys=False, default=str) + "\n").encode(), folder / REPORT_JSON)
    write_bytes_atomic(render(report).encode(), folder / REPORT_HTML)
    return folder / REPORT_HTML


def release_report(plan: Any, staged: Path, target: Path) -> None:
    """Before a release is swapped in: its report (with the diff against the release in place,
    if any) into the staging folder and the workdir, then the gates. Raises ``GateError``
    (nothing published, the previous release stays) when one fails."""
    from curate.reporting.collect import build_report
    from curate.reporting.diff import diff
    from curate.reporting.folders import open_folder
    from curate.reporting.gates import evaluate, failure

    t0 = time.monotonic()
    new = open_folder(staged)
    source = plan.steps[-1].index - 1  # the step export read: Parquet, sampled for a JSON Lines release
    parts = sorted(plan.steps[source].folder.glob("part-*.parquet")) if source >= 0 else []
    report = build_report(new, sample_files=parts)
    report["path"] = str(target)
    previous = _previous_release(target)
    if previous is not None and _parquet(previous) and _parquet(new):
        report["diff"] = diff(previous, new)
        report["diff"]["new"] = str(target)
    gates = plan.config.gates
    if gates.active():
        report["gates"] = evaluate(gates, report, report["diff"])  # max_score_shift: None without a previous release
    report["report_seconds"] = round(time.monotonic() - t0, 3)
    write_report(report, plan.workdir, link_base="workdir")
    err = failure(report["gates"]) if report["gates"] else None
    if err is not None:
        from curate.io.shards import remove_tree

        remove_tree(staged)  # nothing is left beside the output; the workdir holds every step to inspect
        raise err
    write_report(report, staged)


def workdir_report(plan: Any, published: Path | None) -> Path:
    """After a run that published nothing new (no ``output:``, ``--until``, an export reused by
    ``--resume``): the report of the workdir (or of the release in place) into the workdir,
    gates checked when the whole plan ran and there is no release (a release was checked
    before it was published)."""
    from curate.reporting.collect import build_report
    from curate.reporting.folders import open_folder
    from curate.reporting.gates import evaluate, failure

    t0 = time.monotonic()
    if published is not None and (published / "_manifest.json").is_file():
        report = build_report(open_folder(published))
        if (published / REPORT_JSON).is_file():
            report["gates"] = json.loads((published / REPORT_JSON).read_text()).get("gates")
        report["report_seconds"] = round(time.monotonic() - t0, 3)
        return write_report(report, plan.workdir, link_base="workdir")
    report = build_report(open_folder(plan.workdir))
    gates = plan.config.gates
    whole = plan.last == plan.steps[-1].index
    if gates.active() and whole:
        report["gates"] = evaluate(gates, report, None)
    report["report_seconds"] = round(time.monotonic() - t0, 3)
    page = write_report(report, plan.workdir)
    err = failure(report["gates"]) if report["gates"] else None
    if err is not None:
        raise err
    return page


def _parquet(folder: Any) -> bool:
    """Whether a release's data files are Parquet (diff reads their id columns; JSON Lines
    releases are not diffed)."""
    return bool(folder.data_files) and all(f.name.endswith(".parquet") for f in folder.data_files)


def _previous_release(target: Path) -> Any:
    from curate.io.shards import read_json
    from curate.reporting.folders import open_folder

    block = (read_json(target / "_manifest.json") or {}).get("curate_dataset") or {}
    if block.get("layout") != "release":
        return None
    return open_folder(target)


def summary_lines(page: Path) -> list[str]:
    """A few lines after a run's table: where the report is, totals, gates."""
    data = json.loads((page.parent / REPORT_JSON).read_text()) if (page.parent / REPORT_JSON).is_file() else {}
    t = data.get("totals") or {}
    lines = [f"report: {page}"]
    if t:
        line = f"documents: {t.get('docs_in', 0):,} in -> {t.get('docs_out', 0):,} out ({t.get('docs_rejected', 0):,} removed, {t.get('docs_added', 0):,} added)"
        tokens = (data.get("tokens") or {}).get("total")
        lines.append(line + (f", {tokens:,} tokens" if tokens is not None else ""))
    top = sorted(data.get("reasons") or [], key=lambda r: -r["count"])[:3]
    if top:
        lines.append("most removed: " + ", ".join(f"{r['reason']} {r['count']:,} ({r['step']})" for r in top))
    gates = data.get("gates")
    if gates:
        names = {r["gate"].split("[")[0] for r in gates["results"]}
        failed = sorted({r["gate"] for r in gates["results"] if r["passed"] is False})
        lines.append(f"gates: {len(names)} checked, " + ("all passed" if not failed else "FAILED: " + ", ".join(failed)))
    if data.get("diff"):
        d = data["diff"]["documents"]
        lines.append(f"since the previous release: {d['added']:,} added, {d['removed']:,} removed, {d['kept']:,} kept")
    return lines
