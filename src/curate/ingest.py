"""Ingest: parsed records -> validated, normalised documents with stable ids (vectorised).

Checks every record once, in bulk: text present, a string, valid UTF-8, not blank, not longer
than ``max_chars``; applies Unicode normalisation; gives each record a stable ``id`` (the given
one, or a hash of origin and content) and a ``source``. Records that fail a check are returned
separately with the reason and ``file:line`` so the engine writes them to ``rejected/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from curate.config import InputConfig, SourceConfig
from curate.errors import InputError
from curate.hashing import _string_buffers, hash_strings
from curate.io.readers import CONTENT_REASONS, FILE_REASONS, BadRecord, RawChunk

STAGE = "ingest"
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_RESERVED = ("id", "text", "source")


def hex_ids(values: np.ndarray) -> pa.Array:
    """uint64 -> 16-character lowercase hex strings, without a Python loop."""
    be = values.astype(">u8").view(np.uint8).reshape(-1, 8)
    chars = np.empty((len(values), 16), dtype=np.uint8)
    chars[:, 0::2] = _HEX[be >> 4]
    chars[:, 1::2] = _HEX[be & 15]
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(16), len(values), [None, pa.py_buffer(chars.tobytes())]
    )
    return fixed.cast(pa.binary()).cast(pa.string())


def utf8_valid(arr: pa.Array) -> np.ndarray:
    """Per-row UTF-8 validity of a binary array: one bulk decode, per-row only if that fails."""
    n = len(arr)
    offsets, data = _string_buffers(arr)
    try:
        data[offsets[0] : offsets[-1]].tobytes().decode("utf-8")
        starts = offsets[:-1][offsets[1:] > offsets[:-1]]
        # a valid buffer splits into valid rows iff no row starts inside a multi-byte character
        if not np.any((data[starts] & 0xC0) == 0x80):
            return np.ones(n, dtype=bool)
    except UnicodeDecodeError:
        pass
    out = np.ones(n, dtype=bool)
    for i, v in enumerate(arr.to_pylist()):
        if v is None:
            continue
        try:
            v.decode("utf-8")
        except UnicodeDecodeError:
            out[i] = False
    return out


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the output (wrapping uint64 math)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def derived_ids(
    source: pl.Series | str, origin: pl.Series | str, lines: np.ndarray, text_hash: np.ndarray
) -> np.ndarray:
    """Ids from origin (source, file, line) and content: stable across runs, machines and versions.

    Origins repeat (one file, many lines), so each distinct (source, file) is hashed once and the
    line number and the text's XXH64 are mixed in with vectorised integer arithmetic. ``source``
    and ``origin`` given as strings are the same for every row (no per-row key is built).
    """
    n = len(lines)
    if isinstance(source, str) and isinstance(origin, str):
        key_hash = hash_strings(pl.Series([f"{source}\x1f{origin}"], dtype=pl.String), 0x1D)
        per_row = np.full(n, key_hash[0], dtype=np.uint64)
    else:
        if isinstance(source, str):
            source = pl.repeat(source, n, eager=True, dtype=pl.String)
        if isinstance(origin, str):
            origin = pl.repeat(origin, n, eager=True, dtype=pl.String)
        key = (source + "\x1f" + origin).rename("key")
        uniq = key.unique(maintain_order=True)
        key_hash = pl.Series(hash_strings(uniq, 0x1D), dtype=pl.UInt64)
        per_row = key.replace_strict(uniq, key_hash, return_dtype=pl.UInt64).to_numpy()
    h = _mix64(per_row + lines.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    return _mix64(h ^ text_hash)


def unicode_normalized(text: pa.Array, form: str) -> pa.Array:
    """``text`` in Unicode normal form ``form``, normalising only the rows that need it.

    A compiled scan finds the rows that may not be in the form (``curate.normal_forms``: a row of
    ASCII, or of code points that cannot break the form, is in it); of those, Python's quick check
    (``unicodedata.is_normalized``, C) finds the few not yet normalised, and only these go through
    Arrow's ``utf8_normalize``, which costs ~10x more per row than the check (most real text is NFC)."""
    import unicodedata

    from curate.normal_forms import maybe_unnormalized

    if not pa.types.is_large_string(text.type):
        text = text.cast(pa.large_string())
    others = np.flatnonzero(maybe_unnormalized(*_value_buffers(text), form))
    if not others.size:
        return text
    check = unicodedata.is_normalized
    # polars for the conversions: pyarrow's pa.array() imports pandas (~0.5 s a process)
    values = pl.Series(text).gather(others).to_list()
    needs = [i for i, v in zip(others.tolist(), values, strict=True) if v is not None and not check(form, v)]
    if not needs:
        return text
    mask = np.zeros(len(text), dtype=bool)
    mask[needs] = True
    fixed = pc.utf8_normalize(text.take(pl.Series(needs, dtype=pl.Int64).to_arrow()), form)
    return pc.replace_with_mask(text, pl.Series(mask).to_arrow(), fixed)


def _value_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int64, one per row plus one) and the bytes they point into, of a large_string
    array, as zero-copy numpy views (null rows keep whatever offsets they have)."""
    _, offsets_buf, data_buf = text.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None and len(offsets) else np.zeros(0, np.uint8)
    return offsets, data[offsets[0] : offsets[-1]] if len(offsets) else data


def _blank_and_too_long(text: pa.Array, valid: np.ndarray, max_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows that are empty or whitespace, and rows longer than ``max_chars`` characters.

    Only candidates are looked at: a row whose first byte is printable ASCII (``!`` to ``~``)
    starts with a character that is not whitespace, so it is not blank; a row of at most
    ``max_chars`` bytes has at most that many characters. The candidates get the same
    polars checks every row used to get (``strip_chars``, ``len_chars``)."""
    n = len(text)
    blank = np.zeros(n, dtype=bool)
    too_long = np.zeros(n, dtype=bool)
    if not n:
        return blank, too_long
    offsets, data = _value_buffers(text)
    lengths = np.diff(offsets)
    starts = offsets[:-1] - offsets[0]
    first = data[np.minimum(starts, max(len(data) - 1, 0))] if len(data) else np.zeros(n, np.uint8)
    maybe_blank = valid & ((lengths == 0) | (first <= 0x20) | (first >= 0x7F))
    rows = np.flatnonzero(maybe_blank)
    if rows.size:
        part = pl.Series(text.take(pl.Series(rows, dtype=pl.Int64).to_arrow()))
        blank[rows] = part.str.strip_chars().str.len_bytes().eq(0).fill_null(False).to_numpy()
    rows = np.flatnonzero(valid & (lengths > max_chars))
    if rows.size:
        part = pl.Series(text.take(pl.Series(rows, dtype=pl.Int64).to_arrow()))
        too_long[rows] = (part.str.len_chars() > max_chars).fill_null(False).to_numpy()
    return blank, too_long


def _source_name(src: SourceConfig, default: str) -> str:
    return src.source or default


def _one_array(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array whose offsets start at 0 (what the checks below take): its only
    chunk as it is when it already does (``combine_chunks`` copies even that one: all of a chunk's
    text, ~32 MB a chunk of a `curate dedup` of 100,000 documents), else a combined copy (a slice)."""
    if column.num_chunks == 1:
        arr = column.chunk(0)
        kind = arr.type
        wide = pa.types.is_large_string(kind) or pa.types.is_large_binary(kind)
        if (wide or pa.types.is_string(kind) or pa.types.is_binary(kind)) and arr.offset == 0 and len(arr):
            first = np.frombuffer(arr.buffers()[1], dtype=np.int64 if wide else np.int32, count=1)[0]
            if first == 0:
                return arr
    return column.combine_chunks()


def finalize_chunk(
    chunk: RawChunk,
    src: SourceConfig,
    cfg: InputConfig,
    default_source: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate and normalise one parsed chunk: (kept documents, rejected records)."""
    table = chunk.table
    n = table.num_rows
    text_field = "text" if chunk.file.format in ("txt", "warc", "html") else src.text_field
    # a chunk of one file (a line, row or offset unit) names it once; a column only for file units
    origin = pl.Series(table.column("path")).cast(pl.String) if chunk.unit == "file" else None
    unit = {"line": "", "row": "row ", "file": "", "offset": "offset "}[chunk.unit]

    def where(rows: np.ndarray) -> list[str]:
        """`file:line` of some rows (only rejected rows need it, so no column is built)."""
        if origin is not None:
            return origin.gather(rows).to_list()
        return [f"{chunk.file.relpath}:{unit}{chunk.lines[i]}" for i in rows.tolist()]

    # why each row is rejected: 0 kept, k the k-th (reason, detail) marked; the first mark wins
    code = np.zeros(n, dtype=np.int8)
    marks: list[tuple[str, str]] = []

    def mark(mask: np.ndarray, why: str, text: str) -> None:
        new = mask & (code == 0)
        if new.any():
            marks.append((why, text))
            code[new] = len(marks)

    # --- text: present, a string, valid UTF-8, not blank, not too long
    if text_field in table.column_names:
        text = _one_array(table.column(text_field)) if n else pa.array([], pa.string())
    else:
        text = pa.nulls(n, pa.string())
    if text_field in table.column_names or chunk.unit != "row":
        missing = f"no {text_field!r} field"
    else:  # a table format without the column: say which columns it has (a CSV without a header row)
        names = ", ".join(repr(c) for c in table.column_names[:10]) or "none"
        missing = f"no {text_field!r} column (the file's columns: {names})"
    # polars for the conversion: pyarrow's to_numpy of booleans imports pandas (~0.5 s a process)
    mark(pl.Series(text.is_null()).to_numpy(), "missing_text", missing)
    if pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
        ok = utf8_valid(text)
        mark(~ok, "invalid_utf8", "text is not valid UTF-8")
        text = pc.if_else(pl.Series(ok).to_arrow(), text, pa.scalar(None, text.type)).cast(pa.string())
    elif pa.types.is_dictionary(text.type):
        text = text.cast(pa.string())
    elif not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type) or pa.types.is_null(text.type)):
        mark(np.ones(n, dtype=bool), "invalid_text_type", f"{text_field!r} is {text.type}, not a string")
        text = pa.nulls(n, pa.string())
    text = text.cast(pa.large_string())
    if cfg.normalization != "none" and n:
        text = unicode_normalized(text, cfg.normalization)
    text_s = pl.Series("text", text)
    blank, too_long = _blank_and_too_long(text, pl.Series(text.is_valid()).to_numpy(), cfg.max_chars)
    mark(blank, "empty_text", "text is empty or whitespace")
    mark(too_long, "text_too_long", f"text longer than max_chars={cfg.max_chars}")

    # --- source and id (the hash of the text: the same for the Arrow array as for text_s)
    const_source = not (src.source is None and "source" in table.column_names)
    if not const_source:
        source = pl.Series(table.column("source")).cast(pl.String).fill_null(default_source)
    else:
        source = pl.repeat(_source_name(src, default_source), n, eager=True, dtype=pl.String)
    id_source: pl.Series | str = _source_name(src, default_source) if const_source else source
    id_origin: pl.Series | str = chunk.file.relpath if origin is None else origin
    id_field = src.id_field or ("id" if "id" in table.column_names else None)
    if id_field is not None and id_field in table.column_names:
        ids = pl.Series(table.column(id_field)).cast(pl.String)
        no_id = (ids.is_null() | (ids.str.len_bytes() == 0)).to_numpy()
        mark(no_id, "missing_id", f"no {id_field!r} value")
    elif id_field is not None:
        ids = pl.repeat(None, n, eager=True, dtype=pl.String)
        no_id = np.ones(n, dtype=bool)
        mark(no_id, "missing_id", f"no {id_field!r} field")
    else:
        ids = pl.Series("id", hex_ids(derived_ids(id_source, id_origin, chunk.lines, hash_strings(text, 0x2E))))
        no_id = None
    if no_id is not None and no_id.any():  # rejected records still get unique ids: from origin and content
        derived = pl.Series(hex_ids(derived_ids(id_source, id_origin, chunk.lines, hash_strings(text, 0x2E))))
        ids = ids.zip_with(pl.Series(~no_id), derived)

    # --- metadata: every other column, renamed if it collides with a core column
    meta: dict[str, pl.Series] = {}
    used = {text_field, id_field}
    for name in table.column_names:
        if name in used or (name == "source" and src.source is None):
            continue
        out_name = f"orig_{name}" if name in _RESERVED else name
        meta[out_name] = pl.Series(out_name, table.column(name))

    frame = pl.DataFrame(
        {"id": ids, "text": text_s, "source": source, **meta},
        schema_overrides={"id": pl.String, "text": pl.String, "source": pl.String},
    ) if n else pl.DataFrame({"id": [], "text": [], "source": []}, schema={"id": pl.String, "text": pl.String, "source": pl.String})
    rejected_rows = np.flatnonzero(code)
    rejected_mask = pl.Series(code != 0)
    row_marks = [marks[k - 1] for k in code[rejected_rows].tolist()]  # only rejected rows: few
    kept = frame.filter(~rejected_mask) if rejected_rows.size else frame
    rejected = frame.filter(rejected_mask).with_columns(
        pl.lit(STAGE).alias("reject_stage"),
        pl.Series("reject_reason", [r for r, _ in row_marks], dtype=pl.String),
        pl.Series(
            "reject_detail",
            [f"{w}: {d}" for w, (_, d) in zip(where(rejected_rows), row_marks, strict=True)],
            dtype=pl.String,
        ),
    ) if n else pl.DataFrame()
    bad = _bad_records(chunk, src, default_source)
    if bad.height:
        rejected = pl.concat([rejected, bad], how="diagonal_relaxed") if rejected.height else bad
    malformed = [b for b in chunk.bad if b.reason not in CONTENT_REASONS]
    marked = rejected_rows
    if cfg.strict and (malformed or len(marked)):
        # a page without main content, or a non-HTML response, is a well-formed record: strict
        # mode stops at malformed and damaged records only
        candidates = [(b.line, _bad_where(chunk, b), b.detail, b.reason) for b in malformed]
        if len(marked):
            i = int(marked[0])
            candidates.append((int(chunk.lines[i]), where(np.array([i]))[0], row_marks[0][1], row_marks[0][0]))
        _, at, text, why = min(candidates)
        if why in FILE_REASONS:
            raise InputError(
                f"{at}: {text} ({why})",
                hint="repair or replace the file, or run without --strict to keep what can be read "
                "and send the rest to rejected/",
            )
        raise InputError(
            f"malformed record at {at}: {text} ({why})",
            hint="fix the record, or run without --strict to send malformed records to rejected/",
        )
    return kept, rejected


_CASTABLE = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_string, pa.types.is_large_string)


def _common_type(types: list[pa.DataType]) -> pa.DataType | None:
    """One type for a column the shards typed differently: null gives way to any type, numbers
    widen (permissive promotion); scalars that do not promote become strings; else None."""
    known = [t for t in types if not pa.types.is_null(t)] or types
    try:
        return pa.unify_schemas([pa.schema([pa.field("c", t)]) for t in known], promote_options="permissive").field("c").type
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        if all(any(ok(t) for ok in _CASTABLE) for t in known):
            return pa.large_string()
        return None


def unify_shard_schemas(folder: Path, shards: list[str]) -> int:
    """Give the kept shards of an ingest step one schema; returns the shards rewritten.

    Each read task types its own rows, so a metadata column can differ between shards: all null
    in one file (Arrow's null type) and strings in another, integers here and floats there, or
    missing where a file lacks the field. Only the footers are read to decide; a shard that
    differs is rewritten (one at a time) with every column cast to the common type, in the
    order of first appearance, and columns it lacks added as nulls. A column whose types cannot
    be reconciled (a struct here, a string there) is left as each shard has it.
    """
    import pyarrow.parquet as pq

    from curate.io.shards import write_parquet_atomic

    paths = [folder / f"{s}.parquet" for s in shards]
    schemas = [pq.read_schema(p).remove_metadata() for p in paths]
    if len(schemas) < 2 or all(s.equals(schemas[0]) for s in schemas[1:]):
        return 0
    types: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for f in schema:
            types.setdefault(f.name, []).append(f.type)
    common = {name: _common_type(ts) for name, ts in types.items()}
    rewritten = 0
    for path, schema in zip(paths, schemas, strict=True):
        fields = [pa.field(n, t if t is not None else schema.field(n).type) for n, t in common.items() if t is not None or n in schema.names]
        target = pa.schema(fields)
        if schema.equals(target):
            continue
        table = pq.read_table(path)
        columns = [table.column(f.name).cast(f.type) if f.name in schema.names else pa.nulls(table.num_rows, f.type) for f in target]
        write_parquet_atomic(pa.Table.from_arrays(columns, schema=target), path)
        rewritten += 1
    return rewritten


def _bad_where(chunk: RawChunk, b: BadRecord) -> str:
    """`file:line`, `file:row N` or, for a problem of the whole file, just `file`."""
    path = b.file or chunk.file.relpath
    unit = b.unit or chunk.unit
    if unit == "file":
        return path
    return f"{path}:{'row ' if unit == 'row' else 'offset ' if unit == 'offset' else ''}{b.line}"


def _bad_records(chunk: RawChunk, src: SourceConfig, default_source: str) -> pl.DataFrame:
    """Unparseable records as rejected rows; ids derive from file, line, reason and raw text.

    Mixing in the reason and raw text keeps ids unique where several records share a position
    (a damage record after the last line, malformed rows without a known row number).
    """
    if not chunk.bad:
        return pl.DataFrame()
    source = _source_name(src, default_source)
    n = len(chunk.bad)
    lines = np.array([b.line for b in chunk.bad], dtype=np.int64)
    origin = pl.Series([b.file or chunk.file.relpath for b in chunk.bad], dtype=pl.String)
    content = pl.Series([f"{b.reason}\x1f{b.raw}" for b in chunk.bad], dtype=pl.String)
    ids = hex_ids(derived_ids(pl.repeat(source, n, eager=True), origin, lines, hash_strings(content, 0x2E)))
    return pl.DataFrame(
        {
            "id": pl.Series(ids),
            "source": [source] * n,
            "raw": [b.raw for b in chunk.bad],
            "reject_stage": [STAGE] * n,
            "reject_reason": [b.reason for b in chunk.bad],
            "reject_detail": [f"{_bad_where(chunk, b)}: {b.detail}" for b in chunk.bad],
        },
        schema_overrides={"raw": pl.String},
    )
