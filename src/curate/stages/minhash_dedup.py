"""Near-duplicate removal with MinHash LSH: signatures per shard, one global clustering step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import Field, model_validator

from curate.dedup.index import INDEX_VERSION, KIND, empty_entries, load_entries
from curate.dedup.lsh import (
    Buckets,
    band_hashes,
    bucket_candidates,
    bucket_order,
    jaccard_edges,
    join_candidates,
    optimal_params,
    verified_edges,
)
from curate.dedup.minhash import signatures, sketches
from curate.dedup.survivor import KeepRule, check_keep, keep_columns, survivor_rank
from curate.dedup.unionfind import new_parent, roots
from curate.hashing import hash_strings
from curate.side_state import SideWrite
from curate.stages.base import REJECT, GlobalStage, ResolvePieces, StageConfig, StageContext

_SIG_SLICE_ROWS = 1 << 15
"""Key rows per slice when reading candidate signatures (8 MiB of signatures at 128 permutations):
bounds the transient copies whatever the corpus size, at ~1.5x the time of one whole read."""

_CHUNK_ROWS = 1 << 18
"""Key rows per slice when gathering survivors for the index: bounds the transient copies
(slices, not ``collect_batches``: the streaming engine was 4x slower here)."""


class MinhashDedupConfig(StageConfig):
    kind: Literal["minhash_dedup"] = "minhash_dedup"
    threshold: float = Field(
        0.8, gt=0.0, lt=1.0, description="Jaccard similarity of shingle sets at which two texts are duplicates."
    )
    num_perm: int = Field(128, ge=8, le=1024, description="Permutations (signature length).")
    ngram: int = Field(5, ge=1, le=64, description="Shingle length, in words or characters.")
    shingle: Literal["word", "char"] = Field(
        "word", description="Shingle unit: lowercased `\\w+` words, or characters (whitespace collapsed)."
    )
    bands: int | None = Field(
        None, ge=1, description="LSH bands; default: chosen from threshold (set with `rows`)."
    )
    rows: int | None = Field(None, ge=1, description="Rows per band; set together with `bands`.")
    false_positive_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Weight of false positives when choosing bands x rows; default 0.05 with "
        "`verify` (verification removes them, recall matters) else 0.5 (datasketch's).",
    )
    false_negative_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Weight of false negatives when choosing bands x rows; default 1 - the "
        "false-positive weight.",
    )
    seed: int = Field(
        1, ge=0, lt=2**32, description="Seed of the permutations (datasketch's `seed`); keep it fixed across runs sharing an index."
    )
    verify: bool = Field(
        True, description="Join a candidate pair only if it passes verification (`verify_by`)."
    )
    verify_by: Literal["jaccard", "signature"] = Field(
        "jaccard",
        description="'jaccard': the Jaccard similarity of the two shingle sets must reach `threshold` "
        "(exact up to `set_size` distinct shingles a document, a bottom-k estimate beyond); "
        "'signature': >= threshold of the signature values must agree (a MinHash estimate, "
        "standard error ~0.035 at 0.8 with 128 permutations).",
    )
    set_size: int = Field(
        4096,
        ge=16,
        le=1_000_000,
        description="Distinct shingle hashes kept per document for `verify_by: jaccard` (4 bytes "
        "each): documents with more are compared by a bottom-k estimate of this size.",
    )
    max_checks: int = Field(
        64, ge=1, le=100_000, description="Verified comparisons per document and band (bounds huge buckets)."
    )
    keep: KeepRule = "first"
    hash: Literal["fast", "datasketch"] = Field(
        "fast",
        description="'fast' (token hashes combined) or 'datasketch' (xxh32 of each shingle: signatures equal datasketch.MinHash).",
    )
    index: str | None = Field(
        None, description="Folder of an index of kept documents, for incremental runs (created if missing)."
    )


    def with_paths(self, fix: Callable[[str], str]) -> MinhashDedupConfig:
        return self.model_copy(update={"index": fix(self.index)}) if self.index else self

    @model_validator(mode="after")
    def _check_bands(self) -> MinhashDedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both `bands` and `rows`, or neither")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError("bands * rows must not exceed num_perm")
        return self

    def band_rows(self) -> tuple[int, int]:
        """The explicit (bands, rows), or the optimum for the threshold."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        fp = self.false_positive_weight
        if fp is None:
            fp = 1.0 - self.false_negative_weight if self.false_negative_weight is not None else (
                0.05 if self.verify else 0.5
            )
        fn = self.false_negative_weight if self.false_negative_weight is not None else 1.0 - fp
        return optimal_params(self.threshold, self.num_perm, fp, fn)


class MinhashDedup(GlobalStage):
    """Removes near-duplicate documents (MinHash LSH over word or character shingles).

    Reads ``text`` (and the score column for ``keep: highest:COL``). ``keys`` emits per document
    its band hashes (``_band_<i>``, uint64), a rank for the survivor rule and, when verifying or
    indexing, what verification compares: by default (``verify_by: jaccard``) the document's
    shingle set (``_set``: its distinct 32-bit shingle hashes, ascending, the smallest
    ``set_size`` of them), else the signature (``_sig``: the low 16 bits of its ``num_perm``
    values). The global phase numbers documents densely in survivor order (rank, then id), lists
    each band's candidate pairs in an independent piece (sort the band hashes; equal ones pair
    up), verifies each pair and joins the accepted ones with union-find, rooting every component
    at its smallest dense id, which is therefore the survivor, whatever the shard layout or engine.

    Why the shingle sets: a candidate pair is accepted only if the Jaccard similarity of its
    two shingle sets reaches ``threshold`` (exact for documents of up to ``set_size`` distinct
    shingles; a bottom-k estimate, standard error sqrt(J(1-J)/set_size), beyond). Agreement of
    128 signature values is itself an estimate with a standard error of ~0.035 at J = 0.8, which
    on text full of near-copies close to the threshold turns boundary pairs into both false
    positives and false negatives. Every accepted edge is then a true pair, so removals are
    precise and recall is the LSH's (the band choice favours recall when verifying).

    Writes: ``_reject = near_duplicate``, ``duplicate_of`` and ``dup_cluster`` (the survivor's id)
    on removed rows; ``dup_cluster`` and ``dup_cluster_size`` on kept rows (size 1, no cluster, for
    documents without duplicates). Texts without a single word (or non-space character: empty,
    null, only punctuation) have no shingle; they are matched only with exact copies of their raw
    text (null counts as empty), so exact copies always go.

    Memory of ``resolve`` per document, on the driver: ids (~30 B), rank and dense order (~24 B),
    union-find parent (8 B) and the edges the pieces hand on (8 B an edge; with ``verify``, a
    spanning forest: fewer edges than documents per band). Each piece (a group of bands, in a
    worker) holds its band columns, the dense order and a sort order (~24 B a document) and, with
    ``verify``, the shingle sets (4 B a distinct shingle, at most ``set_size``) or signatures
    (2 x num_perm B) of the documents its pairs name, and its own
    union-find parent (at most ``_MAX_VERIFY_PIECES`` such pieces, so the signatures are read at
    most four times). No set or signature is ever held on the driver. Measured on 1 M documents
    with the driver and the pieces in one process (pieces in turn), with signature verification:
    ~310 B/doc, ~170 without. See benchmarks/dedup/RESULTS-dedup.md and docs/scale-out.md.

    Counters (in the manifest): ``candidate_pairs`` (bucket members paired, all bands),
    ``pairs_verified`` and ``pairs_rejected_by_verification`` (set or signature comparisons the pieces
    made; a piece skips pairs its own earlier edges joined, so these depend on how bands are
    grouped into pieces, which depends on corpus size, never on engine or worker count; the
    decisions depend on neither), ``clusters_found``, ``docs_without_shingles``.

    Incremental mode (``index``, see ``curate.dedup.index``): entries of earlier releases always
    survive; new documents that duplicate them or each other are removed. A document already in
    the index with the same id and text (a retried or repeated refresh) is kept and counted as
    ``already_indexed``, never removed as its own duplicate, so rerunning a refresh gives the same
    release. The new survivors are handed to the runner as a ``SideWrite`` (``ctx.side_state``):
    the stage never writes the index; the runner commits them when the run has completed.
    Counters: ``index_docs_before``, ``index_docs_appended``, ``already_indexed`` and
    ``index_id_conflicts`` (a survivor whose id the index holds with another text: not appended).
    """

    kind: ClassVar[str] = "minhash_dedup"
    Config: ClassVar[type[StageConfig]] = MinhashDedupConfig
    adds: ClassVar[frozenset[str]] = frozenset({"dup_cluster", "dup_cluster_size"})
    reject_columns: ClassVar[frozenset[str]] = frozenset({"duplicate_of"})
    replay_cheap: ClassVar[bool] = True

    def __init__(self, cfg: MinhashDedupConfig) -> None:
        super().__init__(cfg)
        self.cfg: MinhashDedupConfig = cfg

    def required_columns(self) -> set[str]:
        return {"id", "text"} | keep_columns(self.cfg.keep)

    def check_schema(self, schema: dict[str, pl.DataType | None], where: str = "minhash_dedup") -> None:
        """Plan-time check: the ``keep: highest:COL`` column exists and is numeric."""
        check_keep(self.cfg.keep, schema, f"{where}.keep")

    def added_schema(self) -> dict[str, pl.DataType | None]:
        return {"dup_cluster": pl.String(), "dup_cluster_size": pl.Int64()}

    def setup(self) -> None:
        """Build the character tables and load the compiled kernels (keys and resolve) once per
        worker, not per shard or piece."""
        cfg = self.cfg
        bands, rows = cfg.band_rows()
        sig, nsh = signatures(pl.Series(["warm up", "warm up"]), cfg.num_perm, cfg.ngram, cfg.seed, cfg.shingle, cfg.hash)
        bh = band_hashes(sig, nsh, bands, rows)
        pairs, _ = bucket_candidates(bh[:, 0].copy(), cfg.verify, cfg.max_checks)
        join_candidates(pairs, new_parent(2), sig if cfg.verify else None, np.arange(2), cfg.threshold)

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {"duplicate_of": pl.String(), "dup_cluster": pl.String(), "dup_cluster_size": pl.Int64()}

    # ------------------------------------------------------------------ keys (per shard)

    def _check_column(self) -> str | None:
        """The key column verification compares (and the index keeps): the shingle set
        (``_set``), the signature (``_sig``), or none (no verification, no index)."""
        cfg = self.cfg
        if not cfg.verify and cfg.index is None:
            return None
        return "_set" if cfg.verify and cfg.verify_by == "jaccard" else "_sig"

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        cfg = self.cfg
        bands, rows = cfg.band_rows()
        check = self._check_column()
        sets = None
        if check == "_set":
            sig, nsh, sets = sketches(
                batch["text"], cfg.num_perm, cfg.ngram, cfg.seed, cfg.shingle, cfg.hash, cfg.set_size
            )
        else:
            sig, nsh = signatures(batch["text"], cfg.num_perm, cfg.ngram, cfg.seed, cfg.shingle, cfg.hash)
        bh = band_hashes(sig, nsh, bands, rows)
        empty = nsh == 0
        if empty.any():
            # no word at all ("", null, "!!!"): MinHash has nothing to compare, so such texts
            # meet only exact copies of their raw text, through band 0
            raw = hash_strings(batch["text"].filter(pl.Series(empty)), 0x5EED0003)
            bh[empty, 0] = raw | np.uint64(1)
        cols: dict[str, Any] = {"id": batch["id"], "_rank": self._rank(batch)}
        for i in range(bands):
            cols[f"_band_{i}"] = pl.Series(bh[:, i], dtype=pl.UInt64)
        if check == "_set":
            cols["_set"] = pl.Series("_set", sets, dtype=pl.Binary)
        elif check == "_sig":
            cols["_sig"] = signature_column(sig)
        if cfg.index is not None:
            cols["_text_hash"] = pl.Series(hash_strings(batch["text"].fill_null(""), 0x7E47), dtype=pl.UInt64)
        ctx.count("docs_without_shingles", int((nsh == 0).sum()))
        return pl.DataFrame(cols)

    def _rank(self, batch: pl.DataFrame) -> pl.Series:
        return survivor_rank(batch, self.cfg.keep)

    # ------------------------------------------------------------------ resolve (global)

    # The global phase splits into pieces of one or more bands: a piece reads its band columns
    # (and the dense order), sorts each and lists the candidate pairs its buckets hold, verifies
    # them (shingle sets or signatures) and hands on a spanning forest of the agreeing pairs; combine
    # unions the forests. The components are those of the graph of all agreeing pairs, whichever
    # pairs a piece skipped as already joined, so the decisions are the same whether the pieces
    # run here in order, in a process pool, or on a Ray cluster.

    def split_resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> ResolvePieces:
        cfg = self.cfg
        bands, _ = cfg.band_rows()
        if cfg.index:
            old, index_files = load_entries(Path(cfg.index), self._index_params(), ["id", "_text_hash"])
        else:
            old, index_files = empty_entries(bands, self._check_column() or "_sig").select("id", "_text_hash"), []
        m = old.height
        base = keys.select("id", "_rank", *(["_text_hash"] if cfg.index else [])).collect()
        n = base.height
        # dense ids: index entries first (they always survive), then new rows by (rank, id)
        survivor_order = base.with_row_index("_row").sort(["_rank", "id"])["_row"].to_numpy()
        row_of_dense = np.concatenate([np.arange(m, dtype=np.int64), m + survivor_order.astype(np.int64)])
        held = np.empty((0, 2), dtype=np.int64)
        if m and n:
            # documents the index already holds (same id, same text): tied to their entry
            dense_of_row = np.empty(n, dtype=np.int64)
            dense_of_row[survivor_order] = np.arange(m, m + n, dtype=np.int64)
            same = (
                base.with_row_index("_row")
                .join(old.with_row_index("_entry"), on=["id", "_text_hash"], how="inner")
                .select("_entry", "_row")
            )
            held = np.stack([same["_entry"].to_numpy().astype(np.int64), dense_of_row[same["_row"].to_numpy()]], axis=1)
        del survivor_order
        groups = _band_groups(bands, m + n, _MAX_VERIFY_PIECES if cfg.verify else bands)
        shared = {"row_of_dense": row_of_dense, "m": m, "n": n, "index_files": index_files, "groups": groups}
        return ResolvePieces(len(groups), shared, {"old": old, "ids": base["id"], "held": held})

    def resolve_piece(self, keys: pl.LazyFrame, shared: Any, piece: int) -> list[tuple[np.ndarray, int, np.ndarray]]:
        """Per band of group ``piece``: (edges, bucket members paired, [verified, rejected]).

        With ``verify`` the piece checks its own candidate pairs (it reads the shingle sets or
        signatures of only the documents its pairs name) and hands on a spanning forest of the
        accepted ones, which joins exactly the same components; the driver never holds a set or
        signature. Without it, the edges are the candidate pairs themselves.
        """
        m, n = shared["m"], shared["n"]
        cols = [f"_band_{b}" for b in shared["groups"][piece]]
        index_rows = pl.scan_parquet(shared["index_files"]) if m else None
        row_of_dense = shared["row_of_dense"]

        def buckets(col: str, frames: tuple[pl.DataFrame | None, pl.DataFrame | None] | None = None) -> Buckets:
            old, new = frames or (
                index_rows.select(col).collect() if index_rows is not None else None,
                keys.select(col).collect() if n else None,
            )
            h_row = np.empty(m + n, dtype=np.uint64)
            if old is not None:
                h_row[:m] = old[col].to_numpy()
            if new is not None:
                h_row[m:] = new[col].to_numpy()
            return bucket_order(h_row[row_of_dense], self.cfg.verify, self.cfg.max_checks)

        frames = (index_rows.select(cols).collect() if index_rows is not None else None, keys.select(cols).collect() if n else None)
        if not self.cfg.verify:
            return [(*buckets(col, frames).candidates(m), np.zeros(2, dtype=np.int64)) for col in cols]
        # A band's candidate pairs are listed here and held until the sets (or signatures) of every
        # document they name are read, unless it would list more than _PAIRS_HELD: a band of a corpus
        # of near copies lists up to max_checks pairs a document (8 bytes each: 1M such documents,
        # 0.5 GB a band), and holding a piece's bands at once made each resolve worker of a 1M
        # `curate dedup` of templated pages peak at 3.3 GB. Such a band only marks who shares a
        # bucket now, and is sorted again and listed, verified and dropped one at a time later.
        named = np.zeros(m + n, dtype=bool)  # by dense id
        held: list[tuple[np.ndarray, int] | None] = []
        for col in cols:
            band = buckets(col, frames)
            if band.bound <= _PAIRS_HELD:
                pairs, paired = band.candidates(m)
                named[pairs.ravel()] = True
                held.append((pairs, paired))
            else:
                named[band.members()] = True
                held.append(None)
            del band
        del frames
        wanted = np.zeros(m + n, dtype=bool)  # by key row
        wanted[row_of_dense[named]] = True
        del named
        parent = new_parent(m + n)  # this piece's own forest: skips pairs its earlier edges joined
        check: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
        owners: list[pa.Array] = []  # the Arrow arrays whose buffers the set views point into
        if self._check_column() == "_set":
            sets, where, row_of, owners = _candidate_sets(index_rows, keys, m, n, row_of_dense, wanted)
            check = lambda pairs: jaccard_edges(pairs, parent, sets, where, row_of, self.cfg.threshold)  # noqa: E731
        else:
            sig, row_of = _candidate_signatures(index_rows, keys, m, n, row_of_dense, wanted, self.cfg.num_perm)
            check = lambda pairs: verified_edges(pairs, parent, sig, row_of, self.cfg.threshold)  # noqa: E731
        del wanted
        out = []
        for i, col in enumerate(cols):
            pairs, paired = held[i] or buckets(col).candidates(m)
            held[i] = None
            edges, stats = check(pairs)
            out.append((edges, paired, stats))
            del pairs
        del owners  # alive until every pair is checked
        return out

    def combine(
        self, keys: pl.LazyFrame, split: ResolvePieces, results: list[Any], ctx: StageContext
    ) -> pl.DataFrame:
        cfg = self.cfg
        bands, _ = cfg.band_rows()
        m, n = split.shared["m"], split.shared["n"]
        row_of_dense = split.shared["row_of_dense"]
        old, new_ids, held = split.local["old"], split.local["ids"], split.local["held"]
        per_band = [band for piece in results for band in piece]
        parent = new_parent(m + n)
        if held.size:
            join_candidates(np.ascontiguousarray(held), parent)
        stats = np.zeros(2, dtype=np.int64)
        for edges, _, band_stats in per_band:  # in band order: the same forest on every engine
            join_candidates(edges, parent)
            stats += band_stats
        root = roots(parent)
        # an index entry tied to the same document arriving again is that document, not another
        # member: it is not counted, so a rerun gives the clusters (and bytes) of the first run
        weight = np.ones(m + n, dtype=np.int64)
        weight[held[:, 0]] = 0
        sizes = np.bincount(root, weights=weight, minlength=m + n).astype(np.int64)
        dense = np.arange(m, m + n, dtype=np.int64)
        clustered = dense[sizes[root[m:]] >= 2]

        all_ids = pl.concat([old["id"], new_ids]) if m else new_ids
        own = all_ids.gather(row_of_dense[clustered])
        survivor = all_ids.gather(row_of_dense[root[clustered]])
        already = np.zeros(m + n, dtype=bool)
        already[held[:, 1]] = True
        removed = (root[clustered] != clustered) & ~already[clustered]
        decisions = pl.DataFrame(
            {
                "id": own,
                "dup_cluster": survivor,
                "_removed": removed,
                "dup_cluster_size": sizes[root[clustered]].astype(np.int64),
            }
        ).select(
            "id",
            pl.when("_removed").then(pl.lit("near_duplicate")).alias(REJECT),
            pl.when("_removed").then(pl.col("dup_cluster")).alias("duplicate_of"),
            "dup_cluster",
            "dup_cluster_size",
        )
        ctx.count("clusters_found", int(np.unique(root[clustered]).size))
        ctx.count("candidate_pairs", sum(int(paired) for _, paired, _ in per_band))
        if cfg.verify:
            ctx.count("pairs_verified", int(stats[0]))
            ctx.count("pairs_rejected_by_verification", int(stats[1]))
        if cfg.index is not None:
            kept_rows = row_of_dense[dense[(root[m:] == dense) & ~already[m:]]] - m
            entries = _gather_entries(keys, np.sort(kept_rows), bands, ctx.run_id, self._check_column() or "_sig")
            fresh = entries.join(old.select("id"), on="id", how="anti", maintain_order="left").unique("id", keep="first", maintain_order=True)
            ctx.count("index_docs_before", m)
            ctx.count("index_docs_appended", fresh.height)
            ctx.count("already_indexed", int(held.shape[0]))
            ctx.count("index_id_conflicts", entries.height - fresh.height)
            ctx.side_state["minhash_index"] = SideWrite(KIND, str(cfg.index), fresh, self._index_params())
        return decisions.sort("id")

    def _index_params(self) -> dict[str, Any]:
        cfg = self.cfg
        bands, rows = cfg.band_rows()
        params = {
            "version": INDEX_VERSION,
            "num_perm": cfg.num_perm,
            "bands": bands,
            "rows": rows,
            "seed": cfg.seed,
            "ngram": cfg.ngram,
            "shingle": cfg.shingle,
            "hash": cfg.hash,
            "check": self._check_column() or "_sig",
        }
        if params["check"] == "_set":
            params["set_size"] = cfg.set_size
        return params

    # ------------------------------------------------------------------ apply (per shard)

    def apply(self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        """Left-join the decisions; rows without one are singletons (``dup_cluster_size = 1``)."""
        for name, dtype in {REJECT: pl.String(), **self.decision_schema()}.items():
            if name not in decisions.columns:
                decisions = decisions.with_columns(pl.lit(None, dtype=dtype).alias(name))
        if REJECT in batch.columns:
            decisions = decisions.rename({REJECT: "_reject_new"})
        out = super().apply(batch, decisions, ctx)
        if "_reject_new" in out.columns:
            out = out.with_columns(pl.coalesce(REJECT, "_reject_new").alias(REJECT)).drop("_reject_new")
        return out.with_columns(pl.col("dup_cluster_size").fill_null(1))


_PAIRS_HELD = 1 << 23
"""Candidate pairs a band may list before its piece reads the sets they need (64 MiB of int32
pairs); a band that would list more is listed again, one band at a time, after the read."""

_ROWS_PER_PIECE = 1 << 20
"""Band rows a piece handles at least: small corpora make few pieces (fewer reads and messages),
large ones one piece per band (as much parallelism as there are bands)."""

_MAX_VERIFY_PIECES = 4
"""Pieces at most when verifying. Each verifying piece reads the signatures of the documents its
pairs name, which on a large corpus is nearly the whole column: four pieces read it four times
(not once per band, 16 times) and still keep four workers busy."""


def _band_groups(bands: int, rows: int, max_pieces: int) -> list[list[int]]:
    """Consecutive bands split into even groups, one group per piece of the global phase."""
    per_piece = max(1, -(-_ROWS_PER_PIECE // max(rows, 1)))
    pieces = min(-(-bands // per_piece), max(1, max_pieces))
    return [g.tolist() for g in np.array_split(np.arange(bands), pieces)]


def _candidate_signatures(
    index_rows: pl.LazyFrame | None, keys: pl.LazyFrame, m: int, n: int, row_of_dense: np.ndarray,
    wanted: np.ndarray, num_perm: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The signatures of the ``wanted`` key rows (those in a shared bucket: no other is ever
    compared), and each dense id's row among them.

    Only those are held (most documents of a corpus are in no candidate pair), read in slices
    of ``_SIG_SLICE_ROWS`` key rows, skipping slices that hold none, so the transient copies stay
    a few MiB whatever the corpus size.
    """
    count = int(wanted.sum())
    sig = np.empty((max(count, 1), num_perm), dtype=SIG_DTYPE)
    position = np.cumsum(wanted, dtype=np.int64) - 1
    np.maximum(position, 0, out=position)  # rows no pair names map anywhere valid, never read
    k = 0
    for frame, first, rows in ((index_rows, 0, m), (keys, m, n)):
        for start in range(0, rows, _SIG_SLICE_ROWS):
            local = wanted[first + start : first + min(start + _SIG_SLICE_ROWS, rows)]
            if frame is None or not local.any():
                continue
            part = _matrix(frame.select("_sig").slice(start, _SIG_SLICE_ROWS).collect()["_sig"], num_perm)
            local = local[: part.shape[0]]
            picked = int(local.sum())
            np.compress(local, part, axis=0, out=sig[k : k + picked])  # one copy, straight into place
            k += picked
    if k != count:
        raise RuntimeError(f"minhash_dedup: read {k} candidate signatures, expected {count}")
    return sig, position[row_of_dense]


def _candidate_sets(
    index_rows: pl.LazyFrame | None, keys: pl.LazyFrame, m: int, n: int, row_of_dense: np.ndarray, wanted: np.ndarray,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray, list[pa.Array]]:
    """The shingle sets of the ``wanted`` key rows (index entries first, then new rows: those in a
    shared bucket) as 16-byte binary views with their buffers (addresses, sizes), each dense id's
    record, and the Arrow arrays that own the buffers (keep them while the views are read).

    The sets stay where polars holds them: a slice's wanted rows are filtered as views (16 bytes
    a row; the buffers shared, not copied), so the keys a one-process run holds in memory are
    never copied (on the 100k `curate dedup`, each of two pieces copied a third of ~90 MB of
    sets twice before). Sets read from key files are fresh memory: a slice whose wanted sets fill
    less than half of the buffers it would newly keep alive has them copied out, so what a piece
    holds stays about the sets it compares, as before. Read in slices, as the signatures.
    """
    position = np.cumsum(wanted, dtype=np.int64) - 1
    np.maximum(position, 0, out=position)
    views: list[np.ndarray] = []
    addresses: list[int] = []
    sizes: list[int] = []
    owners: list[pa.Array] = []
    seen: set[int] = set()  # buffers already kept alive (a held frame's slices share them)
    for frame, first, rows in ((index_rows, 0, m), (keys, m, n)):
        resident = frame is not None and rows > 0 and _resident(frame, "_set")
        for start in range(0, rows, _SIG_SLICE_ROWS):
            local = wanted[first + start : first + min(start + _SIG_SLICE_ROWS, rows)]
            if frame is None or not local.any():
                continue
            column = frame.select("_set").slice(start, _SIG_SLICE_ROWS).collect()["_set"]
            picked = column.filter(pl.Series(local[: column.len()]))
            if picked.null_count():
                raise ValueError("a shingle-set column holds nulls")
            for arr in _view_chunks(picked):
                data = [b for b in arr.buffers()[2:] if b is not None]
                fresh = sum(b.size for b in data if b.address not in seen)
                lengths = np.frombuffer(arr.buffers()[1], dtype=np.uint32)[4 * arr.offset : 4 * (arr.offset + len(arr))][::4]
                if not resident and fresh and 2 * int(lengths[lengths > 12].sum(dtype=np.int64)) < fresh:
                    arr = arr.cast(pa.large_binary()).cast(pa.binary_view())  # compacted: the wanted sets only
                    data = [b for b in arr.buffers()[2:] if b is not None]
                seen.update(b.address for b in data)
                raw = np.frombuffer(arr.buffers()[1], dtype=np.uint32)[4 * arr.offset : 4 * (arr.offset + len(arr))].reshape(-1, 4)
                if data:
                    long = raw[:, 0] > 12
                    if long.any():
                        raw = raw.copy()
                        raw[long, 2] += len(addresses)  # buffer indices into the list of all slices' buffers
                addresses += [b.address for b in data]
                sizes += [b.size for b in data]
                views.append(raw)
                owners.append(arr)
    count = int(wanted.sum())
    got = sum(v.shape[0] for v in views)
    if got != count:
        raise RuntimeError(f"minhash_dedup: read {got} candidate sets, expected {count}")
    if count == 0:  # a record nothing reads (a header alone, inline), so row_of stays valid
        views = [np.zeros((1, 4), dtype=np.uint32)]
        views[0][0, 0] = 4
    all_views = np.concatenate(views).view(np.uint8).reshape(-1)
    where = (np.array(addresses, dtype=np.uint64), np.array(sizes, dtype=np.int64))
    return all_views, where, position[row_of_dense], owners


def _resident(frame: pl.LazyFrame, column: str) -> bool:
    """Whether ``frame``'s rows are already in memory (frames, not a file scan): two reads of its
    first row share one data buffer. Then its slices cost no memory of their own."""
    first = _view_chunks(frame.select(column).slice(0, 1).collect()[column])
    again = _view_chunks(frame.select(column).slice(0, 1).collect()[column])  # while `first` lives
    buffers = [b.address for arr in first for b in arr.buffers()[2:] if b is not None]
    return bool(buffers) and buffers == [b.address for arr in again for b in arr.buffers()[2:] if b is not None]


def _view_chunks(column: pl.Series) -> list[pa.Array]:
    """A polars Binary column's chunks as Arrow binary_view arrays over polars' own buffers (no copy)."""
    arr = column.to_arrow(compat_level=pl.CompatLevel.newest())
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = []
    for chunk in chunks:
        if not pa.types.is_binary_view(chunk.type):  # another layout (not from polars today)
            chunk = chunk.cast(pa.binary_view())
        if len(chunk):
            out.append(chunk)
    return out


SIG_DTYPE = np.uint16
"""What verification compares: the low 16 bits of each MinHash value (b-bit minwise hashing,
Li & Koenig 2010, with b = 16), at half the bytes to write, read and hold. Two different minima
agree there by chance once in 65,536: at 128 permutations and Jaccard 0.8 that is 0.0004 chance
agreements a pair, so a verdict changes only for a pair one agreement short of the threshold
that also gets a chance one (on the 100k-document benchmark: 1 removal in 40,320)."""


def signature_column(sig: np.ndarray) -> pl.Series:
    """An (n, P) signature matrix as a Binary column of 2 x P bytes a row (the low 16 bits of
    each value, see ``SIG_DTYPE``).

    Parquet reads fixed-width binary ~5x faster than a list of P integers (no repetition
    levels), and the resolve pieces read the signatures of every candidate.
    """
    low = np.ascontiguousarray(sig).astype(SIG_DTYPE)  # keeps the low bits
    n, width = low.shape[0], low.itemsize * low.shape[1]
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    arr = pa.LargeBinaryArray.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(low)])
    return pl.Series("_sig", arr, dtype=pl.Binary)


def _matrix(column: pl.Series, num_perm: int) -> np.ndarray:
    """A signature column as an (n, num_perm) ``SIG_DTYPE`` numpy view of its Arrow buffer (no copy)."""
    arr = column.rechunk().to_arrow()
    n = len(arr)
    if n == 0:
        return np.empty((0, num_perm), dtype=SIG_DTYPE)
    if arr.null_count:
        raise ValueError("a signature column holds nulls")
    offset_type = np.int64 if pa.types.is_large_binary(arr.type) else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=offset_type)[arr.offset : arr.offset + n + 1]
    width = np.dtype(SIG_DTYPE).itemsize * num_perm
    if int(offsets[-1] - offsets[0]) != n * width or not (np.diff(offsets) == width).all():
        raise ValueError(f"signatures must be {width} bytes each")
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]
    return data.view(SIG_DTYPE).reshape(n, num_perm)


def _gather_entries(keys: pl.LazyFrame, rows: np.ndarray, bands: int, run_id: str | None, check: str) -> pl.DataFrame:
    """Index entries (id, band hashes, shingle set or signature, text hash, release) of key rows
    ``rows`` (sorted)."""
    cols = ["id", *[f"_band_{i}" for i in range(bands)], check, "_text_hash"]
    frames = []
    for start in range(0, int(rows[-1]) + 1 if rows.size else 0, _CHUNK_ROWS):
        chunk = keys.select(cols).slice(start, _CHUNK_ROWS).collect()
        frames.append(chunk[rows[(rows >= start) & (rows < start + _CHUNK_ROWS)] - start])
    entries = pl.concat(frames) if frames else empty_entries(bands, check).drop("_release")
    return entries.with_columns(pl.lit(run_id, dtype=pl.String).alias("_release"))
