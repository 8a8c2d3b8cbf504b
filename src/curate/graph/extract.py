"""Offline, rule-based entity mentions: names, acronyms and code identifiers per sentence.

No model and no download: candidates are

* capitalised spans: runs of words that start with a capital letter or carry one inside
  (``PostgreSQL``, ``GiST``, ``iPhone``), joined by single spaces or by ``of``/``for``/``de``/``&``
  between two such words (``Free Software Foundation``, ``Bank of America``), or an acronym and a
  number (``RFC 2743``, ``ISO 8601``); leading and
  trailing stop words are cut off (``The``, ``If``, ``Note``...), and spans of stop words only
  dropped;
* code identifiers: ``snake_case`` words (``shared_buffers``, ``pg_dump``), calls (``now()``),
  file names with a known extension (``postgresql.conf``), and single words in code quotes
  (Texinfo's ``‘gzip’``, ``'--openpgp'``, Markdown's backticks);
* user gazetteer names, matched case-sensitively as whole words wherever they occur (also lowercase:
  ``psql``), which also give their type.

Every mention gets a *key*: the alias-merged form of its text (see :func:`normalise`). A sentence
opening word is kept only when the same key is also seen away from sentence starts somewhere
in the corpus (decided in the global step, ``builder.py``): ``Specifies`` opening a sentence is
an ordinary word, ``Perl`` is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

_NAME = r"(?:[A-Z][A-Za-z0-9]*(?:[-'/][A-Za-z0-9]+)*|[a-z]+[A-Z][A-Za-z0-9]*(?:[-/][A-Za-z0-9]+)*)"
_JOIN = r"(?: (?:of|for|de|von|van|der|la|du|&) | )"
_EXT = "conf|c|h|so|dll|txt|sql|sh|py|pl|pm|html|xml|json|yaml|yml|csv|ini|cfg|log|md"
_QUOTED = r"[‘'`]-{0,2}[A-Za-z_][\w.+*/@-]*(?:\(\))?[’'`]"
CANDIDATE = (
    rf"(?:^|[\s(\[,;:])(?:{_QUOTED})(?:$|[\s)\],;:.!?])"
    r"|\b[A-Z]{2,}[A-Z0-9/-]* [0-9]+(?:[.:-][0-9]+)*\b"
    rf"|\b{_NAME}(?:{_JOIN}{_NAME})*\b"
    r"|\b[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+\b(?:\(\))?"
    r"|\b[a-z][a-z0-9]*\(\)"
    rf"|\b[\w-]+\.(?:{_EXT})\b"
)
"""Candidate spans (Rust regex syntax: Polars runs it over a whole batch at once)."""
_QUOTED_SPAN = re.compile(r"[‘'`](-{0,2}[A-Za-z_][\w.+*/@-]*(?:\(\))?)[’'`]")
_SNAKE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+(?:\(\))?$|^[a-z][a-z0-9]*\(\)$")
_FILE = re.compile(rf"^[\w-]+\.(?:{_EXT})$")
_LONG = r"(?:[A-Z][\w-]*[ ](?:(?:of|for|and|the|de|&)[ ])?){1,7}[A-Z][\w-]*"
_ACR = r"[A-Z][A-Za-z0-9]*[A-Z][A-Za-z0-9]*"
ACRONYM_PAIRS = rf"{_LONG}\s*\({_ACR}\)|\b{_ACR}\s*\({_LONG}\)"
"""``Long Form Name (LFN)`` and ``LFN (Long Form Name)``: acronyms the text defines."""
_PAIR_LONG_FIRST = re.compile(rf"^({_LONG})\s*\(({_ACR})\)$")
_PAIR_ACR_FIRST = re.compile(rf"^({_ACR})\s*\(({_LONG})\)$")

STOP = frozenset(
    """
a about above after again against all also although always among an and another any are as at
be because been before being below between both but by can could did do does doing done down
during each either else even every few for from further had has have having he her here hers
him his how however i if in into is it its itself just least less many may me might more most
much must my neither never no nor not now of off often on once only or other otherwise our out
over own perhaps please rather same see several shall she should since so some such than that
the their them then there therefore these they this those though through thus to too under
unless until up upon us very via was we well were what whatever when whenever where whereas
wherever whether which while who whom whose why will with within without would yes yet you
your yours

note notes example examples warning tip caution important see also table figure section chapter
part appendix prev next home up previous contents step first second third last new true false null
none yes no ok one two three four five six seven eight nine ten use using usage synopsis options
description overview introduction summary following let suppose consider assume instead finally
currently today
""".split()
)
"""Lowercased words that never start or end an entity on their own (English function words,
document furniture such as ``Note``/``Table``/``Prev``, and ``TRUE``/``NULL``-style literals)."""

def singular(word: str) -> str:
    """A plural English word's singular for keys only (``indexes`` stays: ambiguous)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


def normalise(text: str) -> str:
    """The alias key of a surface form: case folded, spaces collapsed, possessive ``'s`` and a
    final plural removed (``APIs`` -> ``api``, ``Databases`` -> ``database``)."""
    t = " ".join(text.split())
    if t.endswith("'s"):
        t = t[:-2]
    words = t.split(" ")
    last = words[-1]
    if len(last) > 2 and last[-1] == "s" and last[:-1].isupper():
        words[-1] = last[:-1]  # acronym plural: APIs, URLs
    else:
        words[-1] = singular(last)
    return " ".join(words).casefold()


_MINOR = frozenset({"of", "for", "and", "the", "de", "&", "a", "an"})


def acronym_pair(match: str) -> tuple[str, str] | None:
    """(acronym, expansion) of a definition found by ``ACRONYM_PAIRS`` when the acronym's capitals
    are the initials of the expansion's last words (``The Generalized Search Tree (GiST)``)."""
    m = _PAIR_LONG_FIRST.match(match)
    if m:
        long, acr = m.group(1), m.group(2)
    else:
        m = _PAIR_ACR_FIRST.match(match)
        if not m:
            return None
        acr, long = m.group(1), m.group(2)
    caps = "".join(ch for ch in acr if ch.isupper())
    words = [w for w in re.split(r"[\s-]+", long) if w]
    for i in range(len(words)):
        if words[i].casefold() in _MINOR:
            continue
        tail = words[i:]
        if "".join(w[0].upper() for w in tail if w.casefold() not in _MINOR) == caps:
            return acr, " ".join(tail)
    return None


@dataclass
class Extractor:
    """Finds mentions in a batch of texts; holds only read-only lists (picklable, cheap to build)."""

    gazetteer: dict[str, str] = field(default_factory=dict)
    """Name -> type of user-given names (matched case-sensitively as whole words)."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Normalised alias -> normalised canonical key (user alias file)."""
    extra_stop: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        names = sorted(self.gazetteer, key=len, reverse=True)
        self._gaz = r"\b(?:" + "|".join(re.escape(n) for n in names) + r")\b" if names else None
        self._stop = STOP | {w.casefold() for w in self.extra_stop}
        self._gaz_keys = {normalise(n): t for n, t in self.gazetteer.items()}
        self._cache: dict[str, tuple[str, str, str, bool] | None] = {}

    def sentences(self, texts: pl.Series) -> pl.DataFrame:
        """One row per sentence (or line): ``row`` (the text's position), ``sentence`` (its number
        in the text) and ``s`` (its text). Cuts after . ! ? (and closing quotes or brackets) when
        a non-lowercase character follows, and at line breaks."""
        split = (
            texts.cast(pl.String)
            .fill_null("")
            .str.replace_all("\x00", " ", literal=True)
            .str.replace_all(r"[^\S\n]*\n\s*", "\x00")
            .str.replace_all(r"([.!?][\"')\]]{0,2})\s+([^a-z\s])", "$1\x00$2")
            .str.split("\x00")
        )
        return (
            pl.DataFrame({"s": split})
            .with_row_index("row")
            .explode("s")
            .with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over("row").alias("sentence"))
            .filter(pl.col("s").str.strip_chars().str.len_bytes() > 0)
        )

    def extract(self, texts: pl.Series) -> tuple[pl.DataFrame, pl.Series, list[tuple[str, str]]]:
        """Mentions of a batch (``row``, ``sentence``, ``key``, ``surface``, ``type``, ``opener``),
        the number of sentences of each text, and the (acronym, expansion) pairs the texts define.

        Candidate finding runs in Polars over the whole batch; Python only looks at each distinct
        surface form once (trimming stop words, key, type), cached across batches.
        """
        sent = self.sentences(texts)
        n_sent = (
            pl.DataFrame({"row": pl.arange(0, len(texts), eager=True, dtype=pl.UInt32)})
            .join(sent.group_by("row").agg(pl.col("sentence").max().cast(pl.UInt32) + 1), on="row", how="left")
            .get_column("sentence")
            .fill_null(0)
        )
        found = [sent.with_columns(pl.col("s").str.extract_all(CANDIDATE).alias("c"), pl.lit(False).alias("gaz"))]
        if self._gaz is not None:
            found.append(sent.with_columns(pl.col("s").str.extract_all(self._gaz).alias("c"), pl.lit(True).alias("gaz")))
        cand = (
            pl.concat(found)
            .with_columns(pl.col("s").str.strip_chars_start())
            .explode("c")
            .drop_nulls("c")
            .with_columns(pl.col("s").str.starts_with(pl.col("c")).alias("opener"))
            .select("row", "sentence", "c", "opener", "gaz")
        )
        uniq = cand.select("c", "gaz").unique()
        info = [self._info(c, g) for c, g in uniq.iter_rows()]
        table = pl.DataFrame(
            {
                "c": uniq["c"],
                "gaz": uniq["gaz"],
                "surface": [i[0] if i else None for i in info],
                "key": [i[1] if i else None for i in info],
                "type": [i[2] if i else None for i in info],
                "trimmed": [i[3] if i else False for i in info],
            },
            schema={"c": pl.String, "gaz": pl.Boolean, "surface": pl.String, "key": pl.String, "type": pl.String, "trimmed": pl.Boolean},
        )
        mentions = (
            cand.join(table, on=["c", "gaz"], how="inner")
            .drop_nulls("key")
            .select("row", "sentence", "key", "surface", "type", (pl.col("opener") & ~pl.col("trimmed")).alias("opener"))
        )
        pairs: list[tuple[str, str]] = []
        if texts.str.contains("(", literal=True).any():
            for match in texts.str.extract_all(ACRONYM_PAIRS).explode().drop_nulls().to_list():
                pair = acronym_pair(match)
                if pair is not None:
                    pairs.append((self._key(pair[0]), self._key(pair[1])))
        return mentions, n_sent, pairs

    def _info(self, c: str, gaz: bool) -> tuple[str, str, str, bool] | None:
        """(surface, key, type, trimmed) of a candidate, or None when nothing is left of it."""
        ck = c if not gaz else "\x01" + c
        if ck in self._cache:
            return self._cache[ck]
        out: tuple[str, str, str, bool] | None
        quoted = _QUOTED_SPAN.search(c) if not gaz else None
        if quoted:
            word = quoted.group(1)
            key = self._key(word)
            out = (word, key, self._gaz_keys.get(key, _code_type(word)), False) if len(word) > 1 else None
        elif gaz:
            out = (c, self._key(c), self.gazetteer.get(c, "NAME"), False)
        elif _SNAKE.match(c):
            key = self._key(c)
            out = (c, key, self._gaz_keys.get(key, "IDENTIFIER"), False)
        elif _FILE.match(c):
            key = self._key(c)
            out = (c, key, self._gaz_keys.get(key, "FILE"), False)
        else:
            words = c.split(" ")
            lo, hi = 0, len(words)
            stop = self._stop
            while lo < hi and words[lo].casefold().removesuffix("'s") in stop:
                lo += 1
            while hi > lo and (words[hi - 1].casefold() in stop or words[hi - 1] in _MINOR):
                hi -= 1
            surface = " ".join(words[lo:hi])
            if lo == hi or len(surface) < 2 or surface.isdigit():
                out = None
            else:
                key = self._key(surface)
                out = (surface, key, self._gaz_keys.get(key) or _name_type(surface), lo > 0)
        if len(self._cache) < 1_000_000:
            self._cache[ck] = out
        return out

    def _key(self, surface: str) -> str:
        k = normalise(surface)
        return self.aliases.get(k, k)


_ORG_TAIL = re.compile(
    r"\b(?:Inc|Corp|Corporation|Foundation|Group|University|Institute|Project|Consortium|Team|Ltd|LLC|"
    r"GmbH|Society|Association|Committee|Organization|Organisation|Company|Labs?)\.?$"
)
_PERSON_HEAD = re.compile(r"^(?:Mr|Mrs|Ms|Dr|Prof|Sir)\.?\s")
_STANDARD = re.compile(r"^(?:ISO|IEEE|RFC|ANSI|POSIX|ECMA)\b")


def _code_type(word: str) -> str:
    """The type of a word in code quotes: an option, a file, or an identifier."""
    if word.startswith("-"):
        return "OPTION"
    if _FILE.match(word):
        return "FILE"
    return "IDENTIFIER"


def _name_type(surface: str) -> str:
    """A type from the span's shape: organisation and person markers, standards, acronyms, else NAME."""
    if _ORG_TAIL.search(surface):
        return "ORGANIZATION"
    if _PERSON_HEAD.match(surface):
        return "PERSON"
    if _STANDARD.match(surface):
        return "STANDARD"
    if surface.isupper() and " " not in surface:
        return "ACRONYM"
    return "NAME"
