"""Gates: limits a release must meet before it is published (the ``gates:`` config section).

Checked at the end of ``curate run`` after every conservation check and before the release is
swapped in, and by ``curate diff --gates``. A failing gate is a run failure (exit 1, the message
starts with ``gate failed:``); the previous release stays in place, the report (in the workdir)
and its ``report.json`` (``gates``) say what failed.

Every figure comes from the manifests, except ``max_score_shift``, which needs the previous
release (the one in place at the output path, or OLD of ``curate diff``) and compares bounded
samples of both.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from curate.errors import CurateError


class GatesConfig(BaseModel):
    """Limits a release must meet to be published; a gate left out is not checked."""

    model_config = ConfigDict(extra="forbid")

    min_docs: int | None = Field(None, ge=0, description="Fewest documents the release may hold.")
    min_kept_fraction: float | None = Field(
        None, ge=0.0, le=1.0, description="Least share of the run's input documents that must survive (added documents not counted)."
    )
    max_reject_share_per_reason: float | dict[str, float] | None = Field(
        None,
        description="Most documents one removal reason may take, as a share of the run's input: one number for every "
        "reason, or a mapping reason -> share (reasons not named are not checked).",
    )
    max_contamination_items: int | None = Field(
        None, ge=0, description="Most eval-set items the decontaminate steps may find in the run's input (they were removed; 0 flags any leak)."
    )
    max_pii_per_million: float | None = Field(
        None, ge=0.0, description="Most PII values the pii steps may find per million documents they read."
    )
    max_score_shift: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Largest two-sample KS statistic allowed between the previous release's and this release's values of any "
        "numeric column (samples); not checked when there is no previous release.",
    )
    max_synthetic_fraction: float | None = Field(
        None, ge=0.0, le=1.0, description="Largest share of the release that augmentation may have added: added rows / (rows in "
        "the release + originals that `originals: separate` set aside as `pair_source`), what augment's own cap bounds."
    )

    def active(self) -> bool:
        return any(v is not None for v in self.model_dump().values())


class GateError(CurateError):
    """A gate failed: the release was not published (a run failure, exit 1)."""

    exit_code = 1


def _result(gate: str, value: Any, limit: Any, passed: bool | None, message: str) -> dict[str, Any]:
    return {"gate": gate, "value": value, "limit": limit, "passed": passed, "message": message}


def evaluate(gates: GatesConfig, report: dict[str, Any], diff: dict[str, Any] | None = None) -> dict[str, Any]:
    """Each configured gate with its value, its limit and whether it passed."""
    steps = report.get("funnel") or []
    totals = report.get("totals") or {}
    docs_in = int(totals.get("docs_in", 0))
    docs_out = int(totals.get("docs_out", 0))
    rejected = int(totals.get("docs_rejected", 0))
    out: list[dict[str, Any]] = []
    if gates.min_docs is not None:
        out.append(_result("min_docs", docs_out, gates.min_docs, docs_out >= gates.min_docs, f"the release holds {docs_out:,} documents, at least {gates.min_docs:,} required"))
    if gates.min_kept_fraction is not None:
        kept = (docs_in - rejected) / docs_in if docs_in else 0.0
        out.append(_result("min_kept_fraction", round(kept, 6), gates.min_kept_fraction, kept >= gates.min_kept_fraction,
                           f"{kept:.4f} of the {docs_in:,} input documents survived, at least {gates.min_kept_fraction} required"))
    if gates.max_reject_share_per_reason is not None:
        limits = gates.max_reject_share_per_reason
        checked = []
        for r in report.get("reasons") or []:
            limit = limits if isinstance(limits, float | int) else limits.get(r["reason"])
            if limit is None:
                continue
            share = r["count"] / docs_in if docs_in else 0.0
            checked.append(_result(f"max_reject_share_per_reason[{r['reason']}]", round(share, 6), limit, share <= limit,
                                   f"{r['step']} removed {r['count']:,} documents as {r['reason']} ({share:.4f} of the input), at most {limit} allowed"))
        if isinstance(limits, dict) or any(c["passed"] is False for c in checked):
            out += checked if isinstance(limits, dict) else [c for c in checked if c["passed"] is False]
        else:  # one number for every reason, and every reason within it: one row, the largest share
            worst = max(checked, key=lambda c: c["value"], default=None)
            message = "no document was removed" if worst is None else f"largest: {worst['message'].split(', at most')[0]}"
            out.append(_result("max_reject_share_per_reason", worst["value"] if worst else 0.0, limits, True, f"{message}, at most {limits} allowed for any reason"))
        if isinstance(limits, dict):
            seen = {r["reason"] for r in report.get("reasons") or []}
            for reason in sorted(set(limits) - seen):
                out.append(_result(f"max_reject_share_per_reason[{reason}]", 0.0, limits[reason], True, f"no document was removed as {reason}"))
    if gates.max_contamination_items is not None:
        tables = report.get("contamination") or []
        found = sum(int(row["items_hit"]) for t in tables for row in t["table"].values())
        if not tables:
            out.append(_result("max_contamination_items", None, gates.max_contamination_items, False, "no decontaminate step ran, so contamination is unknown"))
        else:
            names = ", ".join(f"{name} {row['items_hit']}" for t in tables for name, row in t["table"].items() if row["items_hit"])
            out.append(_result("max_contamination_items", found, gates.max_contamination_items, found <= gates.max_contamination_items,
                               f"{found:,} eval items found in the input{f' ({names})' if names else ''}, at most {gates.max_contamination_items} allowed"))
    if gates.max_pii_per_million is not None:
        tables = report.get("pii") or []
        if not tables:
            out.append(_result("max_pii_per_million", None, gates.max_pii_per_million, False, "no pii step ran, so PII is unknown"))
        for t in tables:
            found = sum(int(row["found"]) for row in t["table"].values())
            seen = next((int(f["docs_in"]) for f in steps if f["step"] == t["step"]), 0)
            rate = found * 1e6 / seen if seen else 0.0
            out.append(_result("max_pii_per_million", round(rate, 3), gates.max_pii_per_million, rate <= gates.max_pii_per_million,
                               f"{t['step']} found {found:,} PII values in {seen:,} documents ({rate:,.1f} per million), at most {gates.max_pii_per_million} allowed"))
    if gates.max_score_shift is not None:
        shifts = [s for s in (diff or {}).get("signals", []) if s.get("ks") is not None]
        if diff is None:
            out.append(_result("max_score_shift", None, gates.max_score_shift, None, "no previous release to compare with"))
        elif not shifts:
            out.append(_result("max_score_shift", None, gates.max_score_shift, None, "no numeric column in both releases"))
        else:
            worst = shifts[0]
            out.append(_result("max_score_shift", worst["ks"], gates.max_score_shift, worst["ks"] <= gates.max_score_shift,
                               f"{worst['column']} moved by KS {worst['ks']:.4f} since the previous release, at most {gates.max_score_shift} allowed"))
    if gates.max_synthetic_fraction is not None:
        from curate.stages.augment import ORIGINAL_REASON

        # the share augment's cap bounds: added rows over the release plus the originals that
        # `originals: separate` set aside as pair sources (the second output; none with `keep`)
        added = int(totals.get("docs_added", 0))
        aside = sum(int(r["count"]) for r in report.get("reasons") or [] if r["reason"] == ORIGINAL_REASON)
        whole = docs_out + aside
        share = added / whole if whole else 0.0
        of = f"the {docs_out:,} documents" + (f" and {aside:,} originals set aside as {ORIGINAL_REASON}" if aside else "")
        out.append(_result("max_synthetic_fraction", round(share, 6), gates.max_synthetic_fraction, share <= gates.max_synthetic_fraction,
                           f"{added:,} of {of} were added by augmentation ({share:.4f}), at most {gates.max_synthetic_fraction} allowed"))
    return {"passed": all(r["passed"] is not False for r in out), "results": out}


def failure(result: dict[str, Any]) -> GateError | None:
    """The error a failed evaluation raises (None when every gate passed)."""
    failed = [r for r in result["results"] if r["passed"] is False]
    if not failed:
        return None
    first = failed[0]
    more = f" (and {len(failed) - 1} more gate{'s' if len(failed) > 2 else ''})" if len(failed) > 1 else ""
    return GateError(
        f"gate failed: {first['gate']}: {first['message']}{more}; the release was not published",
        hint="see the gates section of the report (report.html / report.json in the workdir); the previous release is unchanged",
    )


def load_gates(path: Any) -> GatesConfig:
    """Gates from a YAML file: its ``gates:`` section (a pipeline config will do) or, without
    one, the whole mapping. Errors name the file and the key."""
    from pathlib import Path

    import yaml
    from pydantic import ValidationError

    from curate.errors import ConfigError

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as err:
        raise ConfigError(f"--gates: cannot read {p}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"--gates: {p} is not valid YAML ({str(err).splitlines()[0]})") from None
    if isinstance(data, dict) and "gates" in data:
        data = data["gates"]
    if not isinstance(data, dict):
        raise ConfigError(f"--gates: {p} holds no `gates:` mapping")
    try:
        return GatesConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        allowed = ", ".join(GatesConfig.model_fields)
        raise ConfigError(f"--gates: {p}: gates.{key}: {first['msg']}", hint=f"gates: {allowed}") from None
