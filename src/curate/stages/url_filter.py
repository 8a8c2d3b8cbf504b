"""url_filter: block and allow lists of domains and URLs (UT1 format), URL dedup and per-domain caps."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, Literal

import polars as pl
from pydantic import ConfigDict, Field, model_validator

from curate.errors import ConfigError
from curate.hashing import hash_strings
from curate.stages.base import REJECT, REJECT_DETAIL, GlobalStage, StageConfig, StageContext

MAX_LABELS = 12
"""Parent domains tried per host (a.b.c.example.com matches a list entry c.example.com)."""
MAX_SEGMENTS = 8
"""Path segments tried against URL entries (UT1 `urls` lines are host/path prefixes)."""
_TRACKING = r"(?:utm_[a-z0-9_]*|fbclid|gclid|dclid|msclkid|mc_eid|mc_cid|_ga|yclid)"
_CODES = {1: "url_blocked", 2: "url_blocked", 3: "not_allowed", 4: "missing_url"}


class UrlFilterConfig(StageConfig):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["url_filter"] = "url_filter"
    url_column: str = Field("url", min_length=1, description="Column holding each document's URL (ingest of WARC files writes `url`).")
    blocklist: list[str] = Field(
        default_factory=list,
        description="Block lists: files, or folders searched for files named `domains` and `urls` (the UT1 "
        "blacklist layout, one category per folder). One entry a line, `#` comments: a domain blocks itself "
        "and every subdomain; an entry with a `/` (host/path, scheme optional) blocks URLs starting with it. "
        "Blocked documents are rejected as `url_blocked` (detail: the matching entry's kind).",
    )
    allowlist: list[str] = Field(
        default_factory=list,
        description="Allow lists, same format: entries here are never blocked (exceptions to `blocklist`); with "
        "`only_allowed`, documents matching no entry are rejected as `not_allowed`.",
    )
    only_allowed: bool = Field(False, description="Keep only documents whose URL matches the allowlist.")
    url_dedup: bool = Field(
        False,
        description="Keep one document per normalised URL (the smallest id); the others are rejected as "
        "`url_duplicate` with `duplicate_of`. Normalisation: see curate.stages.url_filter.normalized_url.",
    )
    max_per_domain: int | None = Field(
        None,
        gt=0,
        description="Keep at most this many documents per host (without `www.`), drawn by a seeded hash of "
        "the id (reproducible); the rest are rejected as `domain_cap`. Applied after blocking and URL dedup.",
    )
    missing_url: Literal["keep", "reject"] = Field(
        "keep", description="Documents without a URL: keep (never blocked, capped or deduplicated) or reject (`missing_url`)."
    )

    @model_validator(mode="after")
    def _check(self) -> UrlFilterConfig:
        if self.only_allowed and not self.allowlist:
            raise ValueError("only_allowed needs an allowlist")
        if not (self.blocklist or self.allowlist or self.url_dedup or self.max_per_domain or self.missing_url == "reject"):
            raise ValueError("nothing to do: give a blocklist, an allowlist, url_dedup or max_per_domain")
        return self

    def with_paths(self, fix: Callable[[str], str]) -> UrlFilterConfig:
        return self.model_copy(update={"blocklist": [fix(p) for p in self.blocklist], "allowlist": [fix(p) for p in self.allowlist]})

    def input_paths(self) -> list[tuple[str, str]]:
        """Every list file (a folder stands for its `domains` and `urls` files): part of the fingerprint."""
        out: list[tuple[str, str]] = []
        for key, paths in (("blocklist", self.blocklist), ("allowlist", self.allowlist)):
            for i, p in enumerate(paths):
                out += [(f"{key}[{i}]", f) for f in list_files(p, f"{key}[{i}]")]
        return out


def list_files(path: str, where: str) -> list[str]:
    """A list file, or the `domains`/`urls` files under a folder (sorted); an empty folder is an error."""
    if not os.path.isdir(path):
        return [path]
    found = sorted(str(p) for p in Path(path).rglob("*") if p.name in ("domains", "urls") and p.is_file())
    if not found:
        raise ConfigError(f"stages: url_filter.{where}: no file named `domains` or `urls` under {path}", hint="give the list files, or a folder in the UT1 layout")
    return found


def read_lists(paths: list[str]) -> tuple[pl.Series, pl.Series]:
    """(domains, host/path prefixes) of some list files, lowercased, without scheme or `www.`."""
    domains: set[str] = set()
    prefixes: set[str] = set()
    for p in paths:
        for f in list_files(p, "list"):
            with open(f, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    entry = line.split("#", 1)[0].strip()
                    if not entry:
                        continue
                    # hosts are case-insensitive, paths are not (as in the URLs they are matched to)
                    host, slash, path = entry.split("://", 1)[-1].partition("/")
                    host = host.lower().removeprefix("www.").rstrip(".")
                    entry = f"{host}{slash}{path}".rstrip("/")
                    (prefixes if "/" in entry else domains).add(entry)
    return pl.Series(sorted(domains), dtype=pl.String), pl.Series(sorted(prefixes), dtype=pl.String)


def url_parts(url: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(host, path) of URLs: host lowercased, without `www.`, user info, port or trailing dot; path
    without query or fragment (null when the value is no absolute URL)."""
    m = url.str.extract_groups(r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]*)(?::\d*)?([^?#]*)")
    host = m.struct.field("1").str.to_lowercase().str.strip_suffix(".").str.strip_prefix("www.")
    return pl.when(host.str.len_bytes() > 0).then(host), m.struct.field("2")


def normalized_url(url: pl.Expr) -> pl.Expr:
    """The URL dedup compares: scheme and host lowercased, `www.` and default ports (80, 443) dropped,
    no fragment, tracking parameters (utm_*, fbclid, gclid, ...) removed, an empty path as `/`, no
    trailing `?` or `&`, and http and https taken as the same."""
    m = url.str.extract_groups(r"^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#@]*@)?([^/?#:]*)(:\d*)?([^?#]*)(\?[^#]*)?")
    scheme = m.struct.field("1").str.to_lowercase().replace({"https": "http"})
    host = m.struct.field("2").str.to_lowercase().str.strip_suffix(".").str.strip_prefix("www.")
    port = m.struct.field("3").fill_null("").replace({":80": "", ":443": "", ":": ""})
    path = m.struct.field("4").fill_null("")
    path = pl.when(path == "").then(pl.lit("/")).otherwise(path)
    query = (
        m.struct.field("5").fill_null("")
        .str.replace_all(rf"(?i)([?&]){_TRACKING}=[^&]*", "$1")
        .str.replace_all(r"&&+", "&")
        .str.replace(r"\?&", "?")
        .str.strip_suffix("&")
        .str.strip_suffix("?")
    )
    return pl.when(host.str.len_bytes() > 0).then(pl.concat_str([scheme, pl.lit("://"), host, port, path, query]))


def _matches(host: pl.Expr, path: pl.Expr, domains: pl.Series, prefixes: pl.Series) -> tuple[pl.Expr, pl.Expr]:
    """(domain matched, URL prefix matched): the host or a parent domain of it is a listed domain;
    host + the first k path segments (k = 1..MAX_SEGMENTS) is a listed prefix."""
    labels = host.str.split(".")
    n = labels.list.len()
    dom = pl.lit(False)
    if len(domains):
        for k in range(1, MAX_LABELS + 1):
            dom = dom | ((n >= k) & labels.list.slice(-k, k).list.join(".").is_in(domains))
    pre = pl.lit(False)
    if len(prefixes):
        segs = path.str.strip_chars_start("/").str.split("/")
        for k in range(1, MAX_SEGMENTS + 1):
            cand = pl.concat_str([host, pl.lit("/"), segs.list.slice(0, k).list.join("/")]).str.strip_suffix("/")
            pre = pre | ((segs.list.len() >= k) & cand.is_in(prefixes))
    return dom.fill_null(False), pre.fill_null(False)


def _hash_or_null(values: pl.Series, seed: int) -> pl.Series:
    """Stable 64-bit hashes of strings, null where the value is null."""
    hashes = pl.Series(hash_strings(values.fill_null(""), seed), dtype=pl.UInt64)
    return pl.select(pl.when(values.is_not_null()).then(hashes)).to_series()


class UrlFilter(GlobalStage):
    """Filters documents by their URL: block and allow lists, URL dedup, a cap per domain.

    Reads ``id`` and ``url_column``. Rejects with ``url_blocked`` (detail: whether a domain or a
    host/path entry matched), ``not_allowed``, ``missing_url``, ``url_duplicate`` (with
    ``duplicate_of``) and ``domain_cap``. Matching is vectorised (Polars: the host and its parent
    domains, host/path prefixes, looked up in the lists' hash sets). Global state per document:
    two 64-bit hashes (host and normalised URL), a code and a draw; the lists are loaded once per
    worker. Counters: ``url_domains_capped`` (hosts over the cap).
    """

    kind: ClassVar[str] = "url_filter"
    Config: ClassVar[type[StageConfig]] = UrlFilterConfig
    reject_columns: ClassVar[frozenset[str]] = frozenset({"duplicate_of"})

    def __init__(self, cfg: UrlFilterConfig) -> None:
        super().__init__(cfg)
        self.cfg: UrlFilterConfig = cfg
        self._lists: tuple[pl.Series, pl.Series, pl.Series, pl.Series] | None = None

    def required_columns(self) -> set[str]:
        return {"id", self.cfg.url_column}

    def check_schema(self, schema: Mapping[str, pl.DataType | None], where: str = "url_filter") -> None:
        if self.cfg.url_column not in schema:
            raise ConfigError(
                f"{where}.url_column: no column {self.cfg.url_column!r} in the input (columns: {', '.join(sorted(schema))})",
                hint="ingest WARC files (they get `url`), or name the column holding URLs",
            )

    def added_schema(self) -> dict[str, pl.DataType | None]:
        return {}

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {"duplicate_of": pl.String(), REJECT_DETAIL: pl.String()}

    def setup(self) -> None:
        self._lists = (*read_lists(self.cfg.blocklist), *read_lists(self.cfg.allowlist))

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        if self._lists is None:
            self.setup()
        assert self._lists is not None
        block_dom, block_pre, allow_dom, allow_pre = self._lists
        url = pl.col(self.cfg.url_column).cast(pl.String)
        host, path = url_parts(url)
        b_dom, b_pre = _matches(host, path, block_dom, block_pre)
        a_dom, a_pre = _matches(host, path, allow_dom, allow_pre)
        allowed = a_dom | a_pre
        missing = 4 if self.cfg.missing_url == "reject" else 0
        code = (
            pl.when(host.is_null()).then(pl.lit(missing))
            .when(allowed).then(pl.lit(0))
            .when(b_dom).then(pl.lit(1))
            .when(b_pre).then(pl.lit(2))
            .when(pl.lit(self.cfg.only_allowed)).then(pl.lit(3))
            .otherwise(pl.lit(0))
            .cast(pl.Int8)
        )
        frame = batch.select("id", code.alias("_code"), host.alias("_host"), normalized_url(url).alias("_url"))
        return pl.DataFrame({
            "id": frame["id"],
            "_code": frame["_code"],
            "_host": _hash_or_null(frame["_host"], 0x0417),
            "_url": _hash_or_null(frame["_url"], 0x0418),
            "_draw": ctx.uniform(batch["id"], "domain_cap"),
        })

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        keys = keys.select("id", "_code", "_host", "_url", "_draw")
        detail = {1: "blocked domain (the host or a parent domain is listed)", 2: "blocked URL (a listed host/path prefix)", 3: "no allowlist entry matches the URL", 4: "no URL"}
        blocked = keys.filter(pl.col("_code") > 0).select(
            "id",
            pl.col("_code").replace_strict(_CODES, return_dtype=pl.String).alias(REJECT),
            pl.col("_code").replace_strict(detail, return_dtype=pl.String).alias(REJECT_DETAIL),
            pl.lit(None, pl.String).alias("duplicate_of"),
        )
        live = keys.filter((pl.col("_code") == 0) & pl.col("_host").is_not_null())
        parts = [blocked]
        if self.cfg.url_dedup:
            ranked = live.sort(["_url", "id"]).with_columns(pl.col("id").first().over("_url").alias("duplicate_of"))
            parts.append(
                ranked.filter(pl.col("id") != pl.col("duplicate_of")).select(
                    "id", pl.lit("url_duplicate").alias(REJECT), pl.lit("same normalised URL").alias(REJECT_DETAIL), "duplicate_of"
                )
            )
            live = ranked.filter(pl.col("id") == pl.col("duplicate_of")).drop("duplicate_of")
        if self.cfg.max_per_domain is not None:
            cap = self.cfg.max_per_domain
            ranked = live.sort(["_host", "_draw", "id"]).with_columns(pl.int_range(pl.len()).over("_host").alias("_rank"))
            over = ranked.filter(pl.col("_rank") >= cap)
            ctx.count("url_domains_capped", over.select(pl.col("_host").n_unique()).collect().item())
            parts.append(over.select(
                "id", pl.lit("domain_cap").alias(REJECT), pl.lit(f"over max_per_domain={cap} documents of its host").alias(REJECT_DETAIL), pl.lit(None, pl.String).alias("duplicate_of")
            ))
        return pl.concat(parts).collect().sort("id")
