"""PII detection and redaction: e-mail, phone, IP addresses, payment cards, IBANs, secrets, custom regexes."""

from __future__ import annotations

import bisect
import re
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import ConfigDict, Field, field_validator, model_validator

from curate.pii.detectors import BUILTIN_TYPES
from curate.pii.policies import ENV_NAME, REWRITING, Policy, check_format
from curate.stages.base import REJECT, REJECT_DETAIL, MapStage, StageConfig, StageContext

BuiltinType = Literal["email", "phone", "ipv4", "ipv6", "credit_card", "iban", "secret"]
DEFAULT_TYPES: tuple[str, ...] = ("email", "phone", "ipv4", "ipv6", "credit_card", "iban", "secret")
_LOOKALIKE_WORDS = ["isbn", "issn", "doi", "arxiv", "sha", "sha1", "sha256", "md5", "commit", "uuid", "hash"]
DEFAULT_VETOES: dict[str, list[str]] = {
    "phone": _LOOKALIKE_WORDS,
    "credit_card": _LOOKALIKE_WORDS,
    "ipv4": [*_LOOKALIKE_WORDS, "oid"],
}
DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "IN")
_CUSTOM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_RESERVED_PREFIXES = ("docs_", "vetoed_", "invalid_")
SPAN_TYPE = pl.List(pl.Struct({"start": pl.Int32, "end": pl.Int32, "type": pl.String}))
REJECT_REASON = "pii"


class _Refused:
    """A config value refused because it may be a secret; not a ``str``, so error messages that
    echo string inputs (``got '...'``) show nothing of it."""

    def __repr__(self) -> str:
        return "<refused>"


class PiiConfig(StageConfig):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["pii"] = "pii"
    types: list[BuiltinType] = Field(
        default_factory=lambda: list(DEFAULT_TYPES),
        max_length=len(DEFAULT_TYPES),
        description="Built-in types to detect: email, phone, ipv4, ipv6, credit_card, iban, secret. Each adds "
        "an Int32 column `pii_<type>` (spans found). Where spans of two types overlap one is kept, by priority: "
        "secret > credit_card > iban > email > ipv6 > ipv4 > phone > custom (in config order).",
    )
    custom: dict[str, str] = Field(
        default_factory=dict,
        max_length=32,
        description="Extra types, NAME: REGEX (Python `re` syntax), e.g. {employee_id: 'EMP-\\d{6}'}; each is a "
        "type of its own (`pii_<name>`, policies, vetoes). Names: lowercase letters, digits, _; not a built-in "
        "type.",
    )
    policy: dict[str, Policy] = Field(
        default_factory=dict,
        description="Policy per type, e.g. {email: pseudonym, phone: mask}; other types get default_policy. "
        "placeholder: `<EMAIL>`; pseudonym: `<EMAIL_3f9a1c2b>`, a keyed HMAC-SHA256 of the normalised value "
        "(e-mail lowercased, phone E.164, card and IBAN compact, IPv6 compressed; stable across documents and "
        "runs for one key); mask: letters and digits become mask_char, same "
        "length; drop_document: the document goes to rejected/ (reason `pii`, detail: the types that "
        "dropped it); tag_only: counted (and in pii_spans), text unchanged.",
    )
    default_policy: Policy = Field("placeholder", description="Policy of every type not named in `policy`.")
    placeholder: str = Field(
        "<{TYPE}>",
        min_length=1,
        max_length=200,
        description="Text of the placeholder policy; {TYPE} is the type in capitals, {type} as written.",
    )
    pseudonym_format: str = Field(
        "<{TYPE}_{hash}>",
        min_length=1,
        max_length=200,
        description="Text of the pseudonym policy; {hash} (required) is the keyed digest, {TYPE}/{type} the type.",
    )
    pseudonym_length: int = Field(8, ge=4, le=64, description="Hex characters of the pseudonym digest.")
    pseudonym_key_env: str = Field(
        "CURATE_PII_KEY",
        min_length=1,
        max_length=200,
        description="Name of the environment variable holding the pseudonym key (needed only when a type "
        "uses pseudonym; checked at plan time). The key is never written anywhere: a changed key changes the "
        "step's fingerprint through an HMAC of a constant, not the key.",
    )
    mask_char: str = Field("*", min_length=1, max_length=1, description="Character of the mask policy.")
    regions: list[str] | None = Field(
        None,
        max_length=64,
        description="Regions (ISO 3166 alpha-2, e.g. [DE, AT]) whose national formats phone numbers written "
        "without + are tried against, in order, for every document. null: the regions implied by the "
        "document's `lang_column` (en: US GB CA AU IE NZ IN ZA; de: DE AT CH; fr: FR BE CH CA LU; es, it, "
        "pt, nl, ... see curate.pii.detectors.LANG_REGIONS), then default_regions.",
    )
    default_regions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_REGIONS),
        max_length=64,
        description="Regions tried after the language's when `regions` is null (and alone for documents "
        "without a language).",
    )
    lang_column: str | None = Field(
        "lang",
        min_length=1,
        description="Column with each document's language code (quality_score's `lang`), used for phone "
        "regions when present; null: ignore languages.",
    )
    vetoes: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Words that veto a candidate when one labels it: the word (any case, whole, with a number "
        "suffix such as ISBN-13 or SHA-256) within veto_window characters before it on its line, with only "
        "punctuation and spaces in between, per type: vetoed candidates are counted (pii_vetoed_<type>), not "
        "redacted. Given types replace the defaults: phone, credit_card: isbn issn doi arxiv sha sha1 sha256 "
        "md5 commit uuid hash; ipv4: the same and oid. [] turns a type's vetoes off.",
    )
    veto_window: int = Field(24, ge=0, le=1000, description="Characters before a candidate searched for veto words.")
    entropy_threshold: float = Field(
        3.5,
        ge=0.0,
        le=8.0,
        description="Shannon entropy (bits per character) at which a value after a keyword (key, token, secret, "
        "password, auth, credential... then : or =) is a secret.",
    )
    entropy_min_length: int = Field(
        20, ge=8, le=1000, description="Shortest value (characters of [A-Za-z0-9+/=_-]) the entropy test looks at."
    )
    spans: bool = Field(
        False,
        description="Add `pii_spans`: list of {start, end, type} (Int32 code-point offsets into the original "
        "text), sorted by start.",
    )

    @field_validator("types")
    @classmethod
    def _unique_types(cls, v: list[str]) -> list[str]:
        dups = sorted({t for t in v if v.count(t) > 1})
        if dups:
            raise ValueError(f"types must be unique (repeated: {', '.join(dups)})")
        return v

    @field_validator("custom")
    @classmethod
    def _check_custom(cls, v: dict[str, str]) -> dict[str, str]:
        for name, pattern in v.items():
            if not _CUSTOM_NAME.match(name):
                raise ValueError(f"{name!r}: a custom type name is lowercase letters, digits and _ (at most 40), starting with a letter")
            if name in BUILTIN_TYPES or name == "spans" or name.startswith(_RESERVED_PREFIXES):
                raise ValueError(f"{name!r} is reserved (a built-in type or a counter prefix); choose another name")
            if not 1 <= len(pattern) <= 2000:
                raise ValueError(f"{name}: the pattern must have 1 to 2000 characters")
            try:
                compiled = re.compile(pattern)
            except re.error as err:
                raise ValueError(f"{name}: invalid regular expression {pattern!r}: {err}") from None
            if compiled.match(""):
                raise ValueError(f"{name}: the pattern {pattern!r} matches the empty string")
        return v

    @field_validator("regions", "default_regions")
    @classmethod
    def _check_regions(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        import phonenumbers

        bad = [r for r in v if r not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"unknown region(s) {', '.join(map(repr, bad))}: use ISO 3166 alpha-2 codes in capitals, e.g. DE, FR, US")
        return list(dict.fromkeys(v))

    @model_validator(mode="before")
    @classmethod
    def _hide_key_like_values(cls, data: Any) -> Any:
        """A ``pseudonym_key_env`` that is no variable name may be the key itself: replace it by a
        marker before validation, so no error message ever shows it."""
        if isinstance(data, dict):
            value = data.get("pseudonym_key_env")
            if isinstance(value, str) and not ENV_NAME.match(value):
                data = {**data, "pseudonym_key_env": _Refused()}
        return data

    @field_validator("pseudonym_key_env", mode="before")
    @classmethod
    def _check_env(cls, v: Any) -> Any:
        if isinstance(v, _Refused):
            raise ValueError("must be the name of the environment variable that holds the key (letters, digits and _, no $), never the key itself")
        return v

    @field_validator("placeholder")
    @classmethod
    def _check_placeholder(cls, v: str) -> str:
        return check_format(v, needs_hash=False)

    @field_validator("pseudonym_format")
    @classmethod
    def _check_pseudonym_format(cls, v: str) -> str:
        return check_format(v, needs_hash=True)

    @field_validator("vetoes")
    @classmethod
    def _check_vetoes(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, words in v.items():
            if len(words) > 200 or any(not w.strip() or len(w) > 100 for w in words):
                raise ValueError(f"{name}: at most 200 veto words of 1 to 100 characters")
        return v

    @model_validator(mode="after")
    def _check(self) -> PiiConfig:
        names = self.type_names()
        if not names:
            raise ValueError("nothing to detect: give types or custom patterns")
        for field, keys in (("policy", self.policy), ("vetoes", self.vetoes)):
            unknown = [k for k in keys if k not in names]
            if unknown:
                raise ValueError(f"{field}: {', '.join(map(repr, unknown))} is not a detected type; detected: {', '.join(names)}")
        return self

    def type_names(self) -> list[str]:
        """Detected types in column order: ``types`` as given, then custom names."""
        return [*self.types, *self.custom]

    def policy_of(self, name: str) -> str:
        return self.policy.get(name, self.default_policy)

    def uses_pseudonym(self) -> bool:
        return any(self.policy_of(t) == "pseudonym" for t in self.type_names())

    def veto_words(self) -> dict[str, list[str]]:
        """Effective veto words per detected type (defaults, replaced per type by ``vetoes``)."""
        merged = {**DEFAULT_VETOES, **self.vetoes}
        return {t: merged[t] for t in self.type_names() if merged.get(t)}


class Pii(MapStage):
    """Finds PII and secrets and redacts, pseudonymises, masks, tags or drops by policy.

    Reads ``text`` (and ``lang`` for phone regions, when present). Writes ``text`` (rewritten
    spans), ``pii_<type>`` (Int32 spans found per enabled type, custom ones included), with
    ``spans: true`` ``pii_spans`` (list of {start, end, type}, code-point offsets of the original
    text, sorted), and ``_reject = "pii"`` / ``_reject_detail`` (the types) for drop_document.
    Counters: ``pii_<type>`` (spans kept), ``pii_docs_<type>`` (documents with one or more),
    ``pii_vetoed_<type>`` (valid candidates vetoed by a word before them), ``pii_invalid_<type>``
    (candidates that failed validation). Each type is found in two steps: Polars runs candidate
    patterns over the whole batch (and, for detectors with a ``locator``, extracts the pieces of
    text their scan looks at); Python validates candidates in those documents only. Memory:
    the batch, one Python string per candidate document and its spans; the phone library's
    metadata (a few MB) once per worker. The pseudonym key is read from the environment on
    the driver (plan time) and in each worker, and never pickled.
    """

    kind: ClassVar[str] = "pii"
    Config: ClassVar[type[StageConfig]] = PiiConfig
    requires: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, cfg: PiiConfig) -> None:
        super().__init__(cfg)
        self.cfg: PiiConfig = cfg
        self.type_names = cfg.type_names()
        self._key: bytes | None = None
        self._key_id: str | None = None
        if cfg.uses_pseudonym():
            from curate.pii.policies import key_id, read_key

            self._key = read_key(cfg.pseudonym_key_env)
            self._key_id = key_id(self._key)
        self._ready = False
        self._state: Any = None

    # ------------------------------------------------------------ schema

    def output_columns(self) -> list[str]:
        cols = [f"pii_{t}" for t in self.type_names]
        if self.cfg.spans:
            cols.append("pii_spans")
        return cols

    def added_columns(self) -> set[str]:
        return set(self.output_columns())

    def added_schema(self) -> dict[str, pl.DataType | None]:
        """``pii_<type>`` Int32; ``pii_spans`` list of struct{start: Int32, end: Int32, type: String}."""
        out: dict[str, pl.DataType | None] = {f"pii_{t}": pl.Int32() for t in self.type_names}
        if self.cfg.spans:
            out["pii_spans"] = SPAN_TYPE
        return out

    def config_fingerprint(self) -> dict[str, Any]:
        fp = self.cfg.model_dump(mode="json")
        if self._key_id is not None:
            fp["pseudonym_key_id"] = self._key_id  # an HMAC of a constant: never the key
        return fp

    # ------------------------------------------------------------ set-up

    def setup(self) -> None:
        """Compile detectors and veto patterns, load the TLD list and the key (once per worker)."""
        from curate.errors import StageError
        from curate.pii.detectors import build_detectors
        from curate.pii.policies import Redactor, read_key
        from curate.pii.validators import known_tlds

        cfg = self.cfg
        if cfg.uses_pseudonym() and self._key is None:
            try:
                self._key = read_key(cfg.pseudonym_key_env)
            except Exception as err:  # a worker without the variable: say so, name no value
                raise StageError(
                    f"pii: environment variable {cfg.pseudonym_key_env} is not set in this worker process",
                    hint="set it where the workers run (it is read from the environment, never shipped)",
                ) from err
        detectors = build_detectors(
            cfg.types, cfg.custom, entropy_threshold=cfg.entropy_threshold, entropy_min_length=cfg.entropy_min_length
        )
        vetoes = {
            t: re.compile(
                r"(?i)(?<![^\W\d_])(?:" + "|".join(re.escape(w.strip()) for w in sorted(words, key=len, reverse=True))
                + r")(?:[-_ ]?[0-9]+)?(?![^\W\d_])"
            )
            for t, words in cfg.veto_words().items()
        }
        redactor = Redactor(
            {t: cfg.policy_of(t) for t in self.type_names},
            placeholder=cfg.placeholder,
            pseudonym_format=cfg.pseudonym_format,
            pseudonym_length=cfg.pseudonym_length,
            mask_char=cfg.mask_char,
            key=self._key,
        )
        if "email" in cfg.types:
            known_tlds()
        self._state = (detectors, vetoes, redactor)
        self._ready = True

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_key=None, _state=None, _ready=False)  # the key and compiled state never travel
        return state

    # ------------------------------------------------------------ processing

    def _candidate_rows(self, text: pl.Series, detectors: list[Any]) -> list[np.ndarray]:
        """Per detector, the sorted row numbers of documents its prefilters accept."""
        firsts = sorted({chain[0] for d in detectors for chain in d.prefilters})
        frame = pl.DataFrame({"t": text})
        masks = frame.select(
            [pl.col("t").str.contains(p, literal=lit).fill_null(False).alias(f"m{i}") for i, (p, lit) in enumerate(firsts)]
        ) if firsts else None
        first_rows = {key: masks[f"m{i}"].arg_true().to_numpy() for i, key in enumerate(firsts)} if masks is not None else {}
        nonempty: np.ndarray | None = None
        out: list[np.ndarray] = []
        for det in detectors:
            if not det.prefilters:
                if nonempty is None:
                    nonempty = (text.str.len_bytes().fill_null(0) > 0).arg_true().to_numpy()
                out.append(nonempty)
                continue
            parts = []
            for chain in det.prefilters:
                rows = first_rows[chain[0]]
                for pattern, lit in chain[1:]:
                    if not len(rows):
                        break
                    keep = text.gather(rows).str.contains(pattern, literal=lit).fill_null(False).to_numpy()
                    rows = rows[keep]
                parts.append(rows)
            out.append(parts[0] if len(parts) == 1 else np.union1d(*parts) if len(parts) == 2 else np.unique(np.concatenate(parts)))
        return out

    def _regions(self, batch: pl.DataFrame, rows: np.ndarray) -> list[tuple[str, ...]]:
        from curate.pii.detectors import lang_regions

        cfg = self.cfg
        if cfg.regions is not None:
            return [tuple(cfg.regions)] * len(rows)
        default = tuple(cfg.default_regions)
        col = cfg.lang_column
        if col is None or col not in batch.columns or not len(rows):
            return [default] * len(rows)
        langs = batch[col].cast(pl.String).gather(rows).to_list()
        cache: dict[str | None, tuple[str, ...]] = {}
        out = []
        for lang in langs:
            regs = cache.get(lang)
            if regs is None:
                regs = cache[lang] = tuple(dict.fromkeys((*lang_regions(lang), *default)))
            out.append(regs)
        return out

    def process(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        if not self._ready:
            self.setup()
        detectors, vetoes, redactor = self._state
        n = batch.height
        text = batch["text"].cast(pl.String)
        names = [d.name for d in detectors]
        k = len(detectors)
        window = self.cfg.veto_window
        cand = self._candidate_rows(text, detectors) if n else [np.empty(0, np.int64)] * k
        union = np.unique(np.concatenate(cand)) if any(len(c) for c in cand) else np.empty(0, np.int64)
        strs = text.gather(union).to_list() if len(union) else []
        found: dict[int, list[tuple[int, int, int, int, str]]] = {}  # position in union -> (prio, start, end, type, value)
        invalid = [0] * k
        vetoed = [0] * k
        for ti, (det, rows) in enumerate(zip(detectors, cand, strict=True)):
            if not len(rows):
                continue
            positions = np.searchsorted(union, rows).tolist()
            regions = self._regions(batch, rows) if det.uses_regions else None
            located = text.gather(rows).str.extract_all(det.locator).to_list() if det.locator is not None else None
            veto = vetoes.get(det.name)
            skips = det.skips_taken
            for j, p in enumerate(positions):
                s = strs[p]
                kwargs: dict[str, Any] = {}
                if located is not None:
                    kwargs["located"] = located[j]
                if skips and p in found:
                    kwargs["taken"] = [(b[1], b[2]) for b in found[p]]
                spans, bad = det.scan(s, regions[j] if regions is not None else (), **kwargs)
                invalid[ti] += bad
                if not spans:
                    continue
                bucket = found.get(p)
                if bucket is None:
                    bucket = found[p] = []
                for start, end, value in spans:
                    if veto is not None and window and _vetoed(veto, s, start, window):
                        vetoed[ti] += 1
                        continue
                    bucket.append((ti, start, end, ti, value))
        counts = np.zeros((k, n), dtype=np.int32)
        drop_types = {i for i, t in enumerate(names) if redactor.policies[t] == "drop_document"}
        rewrite = [redactor.policies[t] in REWRITING for t in names]
        new_rows: list[int] = []
        new_texts: list[str] = []
        drop_rows: list[int] = []
        drop_detail: list[str] = []
        span_rows: list[int] = []
        span_start: list[int] = []
        span_end: list[int] = []
        span_type: list[str] = []
        for p, bucket in sorted(found.items()):
            if not bucket:
                continue
            row = int(union[p])
            kept = _resolve_overlaps(bucket)
            s = strs[p]
            pieces: list[str] = []
            last = 0
            dropped: set[int] = set()
            for _, start, end, ti, value in kept:
                counts[ti, row] += 1
                if ti in drop_types:
                    dropped.add(ti)
                if rewrite[ti]:
                    rep = redactor.replacement(names[ti], s[start:end], value)
                    if rep is not None:
                        pieces.append(s[last:start])
                        pieces.append(rep)
                        last = end
                if self.cfg.spans:
                    span_rows.append(row)
                    span_start.append(start)
                    span_end.append(end)
                    span_type.append(names[ti])
            if pieces:
                pieces.append(s[last:])
                new_rows.append(row)
                new_texts.append("".join(pieces))
            if dropped:
                drop_rows.append(row)
                drop_detail.append(",".join(names[i] for i in sorted(dropped)))
        for ti, name in enumerate(names):
            ctx.count(f"pii_{name}", int(counts[ti].sum()))
            ctx.count(f"pii_docs_{name}", int(np.count_nonzero(counts[ti])))
            ctx.count(f"pii_vetoed_{name}", vetoed[ti])
            ctx.count(f"pii_invalid_{name}", invalid[ti])
        return self._output(batch, text, counts, names, new_rows, new_texts, drop_rows, drop_detail,
                            (span_rows, span_start, span_end, span_type), bool(drop_types))

    def _output(
        self,
        batch: pl.DataFrame,
        text: pl.Series,
        counts: np.ndarray,
        names: list[str],
        new_rows: list[int],
        new_texts: list[str],
        drop_rows: list[int],
        drop_detail: list[str],
        spans: tuple[list[int], list[int], list[int], list[str]],
        with_reject: bool,
    ) -> pl.DataFrame:
        n = batch.height
        cols: list[pl.Series] = []
        if new_rows:
            text = text.clone()
            text.scatter(new_rows, new_texts)
        cols.append(text.alias("text"))
        index = {name: i for i, name in enumerate(names)}
        cols.extend(pl.Series(f"pii_{name}", counts[index[name]], dtype=pl.Int32) for name in self.type_names)
        if self.cfg.spans:
            rows, starts, ends, types = spans
            flat = pl.DataFrame(
                {"_row": rows, "start": starts, "end": ends, "type": types},
                schema={"_row": pl.Int64, "start": pl.Int32, "end": pl.Int32, "type": pl.String},
            )
            lists = flat.group_by("_row", maintain_order=True).agg(pl.struct("start", "end", "type").alias("pii_spans"))
            full = pl.DataFrame({"_row": np.arange(n, dtype=np.int64)}).join(lists, on="_row", how="left", maintain_order="left")
            cols.append(full.select(pl.col("pii_spans").fill_null(pl.lit([], dtype=SPAN_TYPE)).cast(SPAN_TYPE))["pii_spans"])
        if with_reject:
            reason = pl.Series(REJECT, [None] * n, dtype=pl.String)
            detail = pl.Series(REJECT_DETAIL, [None] * n, dtype=pl.String)
            if drop_rows:
                reason.scatter(drop_rows, [REJECT_REASON] * len(drop_rows))
                detail.scatter(drop_rows, drop_detail)
            if REJECT in batch.columns:
                earlier = batch[REJECT].cast(pl.String)
                old_detail = batch[REJECT_DETAIL].cast(pl.String) if REJECT_DETAIL in batch.columns else pl.Series([None] * n, dtype=pl.String)
                frame = pl.DataFrame({"e": earlier, "od": old_detail, "r": reason, "d": detail})
                merged = frame.select(
                    pl.coalesce("e", "r").alias(REJECT),
                    pl.when(pl.col("e").is_not_null()).then(pl.col("od")).otherwise(pl.col("d")).alias(REJECT_DETAIL),
                )
                reason, detail = merged[REJECT], merged[REJECT_DETAIL]
            cols.extend([reason, detail])
        return batch.with_columns(cols)


_LABEL_GAP = re.compile(r"[^\w\n]*")


def _vetoed(veto: re.Pattern[str], text: str, start: int, window: int) -> bool:
    """A veto word (with a number suffix: ``ISBN-13``, ``SHA-256``) labelling the candidate: within
    ``window`` characters before it, on its line, with only punctuation and spaces between
    (``ISBN: 030 1234 5678``, ``commit 4111...``; not ``the hash. Phone: +81 ...``)."""
    for m in veto.finditer(text, max(0, start - window), start):
        if _LABEL_GAP.fullmatch(text, m.end(), start):
            return True
    return False


def _resolve_overlaps(bucket: list[tuple[int, int, int, int, str]]) -> list[tuple[int, int, int, int, str]]:
    """Spans that survive overlaps, by start: higher priority (lower number) first, then earlier start.

    A span is kept when it overlaps no span kept before it, so text is rewritten once.
    """
    if len(bucket) == 1:
        return bucket
    bucket.sort()
    starts: list[int] = []
    ends: list[int] = []
    kept: list[tuple[int, int, int, int, str]] = []
    for item in bucket:
        _, start, end, _, _ = item
        i = bisect.bisect_right(starts, start)
        if (i and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
            continue
        starts.insert(i, start)
        ends.insert(i, end)
        kept.append(item)
    kept.sort(key=lambda it: it[1])
    return kept
