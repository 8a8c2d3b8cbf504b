"""Reads the hand-labelled gold set (tests/data/graph_gold/gold.txt) and scores a graph against it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

GOLD = Path(__file__).parents[2] / "tests" / "data" / "graph_gold" / "gold.txt"


@dataclass
class Entity:
    """A gold entity: its first form names it; every form (``=``) is accepted."""

    name: str
    forms: list[str]


@dataclass
class Sentence:
    text: str
    entities: list[Entity] = field(default_factory=list)
    relations: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Passage:
    """Consecutive sentences of one page: one chunk in the benchmark."""

    origin: str
    sentences: list[Sentence] = field(default_factory=list)

    @property
    def source(self) -> str:
        return self.origin.split("/", 1)[0]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


def read_gold(path: Path = GOLD) -> list[Passage]:
    """Parse the gold file; a relation naming an entity its sentence does not list is an error."""
    passages: list[Passage] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        tag, _, value = line.partition(": ")
        if tag == "P":
            passages.append(Passage(value.strip()))
        elif tag == "S":
            passages[-1].sentences.append(Sentence(value.strip()))
        elif tag == "E":
            sent = passages[-1].sentences[-1]
            for item in value.split(" | "):
                forms = [f.strip() for f in item.split(" = ")]
                sent.entities.append(Entity(forms[0], forms))
        elif tag == "R":
            sent = passages[-1].sentences[-1]
            names = {f: e.name for e in sent.entities for f in e.forms}
            for rel in value.split(" ; "):
                a, _, b = (x.strip() for x in rel.partition(" -- "))
                if a not in names or b not in names or names[a] == names[b]:
                    raise ValueError(f"{path}:{n}: relation {rel!r} names an entity the sentence does not list")
                sent.relations.append((names[a], names[b]))
        else:
            raise ValueError(f"{path}:{n}: unknown line {line[:40]!r}")
    return passages


@dataclass
class Score:
    """Micro-averaged counts over passages."""

    pred: int = 0
    pred_ok: int = 0
    gold: int = 0
    gold_found: int = 0

    @property
    def precision(self) -> float:
        return self.pred_ok / self.pred if self.pred else 0.0

    @property
    def recall(self) -> float:
        return self.gold_found / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score_passage(
    passage: Passage,
    entities: list[list[str]],
    edges: list[tuple[list[str], list[str]]],
    key: object,
    ents: Score,
    rels: Score,
) -> None:
    """Add one passage's counts. ``entities``: the surface forms of each predicted entity of the
    chunk; ``edges``: the surface forms of both ends of each predicted edge of the chunk; ``key``:
    the normalisation both sides are compared under (case, plural)."""
    norm = key  # callable
    gold: dict[str, set[str]] = {}
    for s in passage.sentences:
        for e in s.entities:
            gold.setdefault(e.name, set()).update(norm(f) for f in e.forms)  # type: ignore[operator]
    gold_rel = {frozenset(r) for s in passage.sentences for r in s.relations}

    def match(forms: list[str]) -> set[str]:
        keys = {norm(f) for f in forms}  # type: ignore[operator]
        return {name for name, ks in gold.items() if ks & keys}

    found: set[str] = set()
    for forms in entities:
        names = match(forms)
        ents.pred += 1
        ents.pred_ok += bool(names)
        found |= names
    ents.gold += len(gold)
    ents.gold_found += len(found)
    rel_found: set[frozenset[str]] = set()
    for a, b in edges:
        pairs = {frozenset((x, y)) for x in match(a) for y in match(b) if x != y} & gold_rel
        rels.pred += 1
        rels.pred_ok += bool(pairs)
        rel_found |= pairs
    rels.gold += len(gold_rel)
    rels.gold_found += len(rel_found)
