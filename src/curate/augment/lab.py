"""LAB-style generation: a taxonomy of skills and knowledge with seed examples drives a teacher.

Per leaf (one block): generate questions grounded in the leaf's seeds (and, for knowledge, in a
context: a seed's or a chunk of the leaf's documents) -> answer them -> judge each pair with a
rubric (a JSON answer, ``response_format`` when the server takes it, a strict parser always)
-> keep pairs scoring at least ``min_score``. Every request goes through the cached client, so a
yield check's answers are reused by the full run and a resumed run pays nothing twice.

Taxonomy formats read here (nothing is downloaded; documents are files you have):

* an InstructLab taxonomy folder: every ``qna.yaml`` below it. Knowledge leaves (version 3):
  ``domain``, ``document_outline``, ``seed_examples`` of ``context`` + ``questions_and_answers``,
  ``document`` with ``patterns`` (globs; looked up under ``document.folder`` when given, else in
  the leaf's folder, else under ``documents_root``). Skill leaves: ``task_description`` and
  ``seed_examples`` of ``question``, ``answer`` and an optional ``context``.
* our own YAML: a list of leaves ``{path, task_description, seeds: [{question, answer,
  context}], documents: [files]}``, or JSON Lines of seeds ``{path, question, answer, context,
  task_description}`` (one leaf per ``path``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.errors import InputError

log = logging.getLogger(__name__)

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "reason": {"type": "string"},
    },
    "required": ["score"],
    "additionalProperties": False,
}


@dataclass
class Seed:
    question: str
    answer: str
    context: str | None = None


@dataclass
class Leaf:
    """One taxonomy node: its path (``compositional_skills/math/area``), kind and seeds."""

    path: str
    kind: str  # "knowledge" | "skill"
    task: str
    seeds: list[Seed]
    contexts: list[str] = field(default_factory=list)
    """Grounding for knowledge questions: seed contexts, then chunks of the documents."""
    documents_missing: int = 0


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: `{key}` must be non-empty text")
    return value.strip()


def _chunks(text: str, words: int) -> list[str]:
    ws = text.split()
    return [" ".join(ws[i : i + words]) for i in range(0, len(ws), words) if ws[i : i + words]]


def _load_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"taxonomy: cannot read {path}{where}: {type(err).__name__}") from None


def parse_qna(
    path: Path, root: Path, chunk_words: int = 300, documents_root: Path | None = None
) -> Leaf:
    """One InstructLab ``qna.yaml`` (knowledge v3 or skill) as a leaf."""
    data = _load_yaml(path)
    rel = path.parent.relative_to(root).as_posix() if path.parent != root else path.parent.name
    where = f"taxonomy {path}"
    if not isinstance(data, dict) or not isinstance(data.get("seed_examples"), list):
        raise InputError(f"{where}: expected a mapping with `seed_examples` (a list)")
    examples = data["seed_examples"]
    if (
        "document_outline" in data
        or "document" in data
        or any(isinstance(e, dict) and "questions_and_answers" in e for e in examples)
    ):
        outline = _text(data.get("document_outline"), where, "document_outline")
        domain = data.get("domain") or ""
        seeds, contexts = [], []
        for i, ex in enumerate(examples):
            if not isinstance(ex, dict):
                raise InputError(f"{where}: seed_examples[{i}] must be a mapping")
            ctx = _text(ex.get("context"), where, f"seed_examples[{i}].context")
            contexts.append(ctx)
            qas = ex.get("questions_and_answers")
            if not isinstance(qas, list) or not qas:
                raise InputError(
                    f"{where}: seed_examples[{i}].questions_and_answers must be a list"
                )
            for j, qa in enumerate(qas):
                key = f"seed_examples[{i}].questions_and_answers[{j}]"
                if not isinstance(qa, dict):
                    raise InputError(f"{where}: {key} must be a mapping")
                seeds.append(
                    Seed(
                        _text(qa.get("question"), where, key + ".question"),
                        _text(qa.get("answer"), where, key + ".answer"),
                        ctx,
                    )
                )
        leaf = Leaf(
            rel, "knowledge", f"{domain}: {outline}" if domain else outline, seeds, contexts
        )
        doc = data.get("document") or {}
        patterns = doc.get("patterns") if isinstance(doc, dict) else None
        for pattern in patterns or []:
            bases = (
                [Path(doc["folder"])]
                if isinstance(doc, dict) and doc.get("folder")
                else [path.parent]
            )
            if documents_root is not None:
                bases.append(documents_root)
            found = sorted({f for b in bases for f in glob.glob(str(b / pattern), recursive=True)})
            if not found:
                leaf.documents_missing += 1
            for f in found:
                try:
                    leaf.contexts += _chunks(
                        Path(f).read_text(encoding="utf-8", errors="replace"), chunk_words
                    )
                except OSError:
                    leaf.documents_missing += 1
        return leaf
    task = _text(data.get("task_description"), where, "task_description")
    seeds = []
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict):
            raise InputError(f"{where}: seed_examples[{i}] must be a mapping")
        ctx = ex.get("context")
        seeds.append(
            Seed(
                _text(ex.get("question"), where, f"seed_examples[{i}].question"),
                _text(ex.get("answer"), where, f"seed_examples[{i}].answer"),
                ctx.strip() if isinstance(ctx, str) and ctx.strip() else None,
            )
        )
    return Leaf(rel, "skill", task, seeds)


def _own_leaf(item: Any, where: str, base: Path, chunk_words: int) -> Leaf:
    if not isinstance(item, dict):
        raise InputError(f"{where}: each leaf must be a mapping")
    path = _text(item.get("path"), where, "path")
    seeds_raw = item.get("seeds")
    if not isinstance(seeds_raw, list) or not seeds_raw:
        raise InputError(f"{where}: leaf {path}: `seeds` must be a non-empty list")
    seeds = [
        Seed(
            _text(s.get("question"), where, "question"),
            _text(s.get("answer"), where, "answer"),
            s.get("context"),
        )
        for s in seeds_raw
        if isinstance(s, dict)
    ]
    contexts = [s.context for s in seeds if s.context]
    for doc in item.get("documents") or []:
        p = Path(doc) if Path(doc).is_absolute() else base / doc
        try:
            contexts += _chunks(p.read_text(encoding="utf-8", errors="replace"), chunk_words)
        except OSError:
            raise InputError(f"{where}: leaf {path}: cannot read document {doc}") from None
    kind = "knowledge" if contexts else "skill"
    return Leaf(path, kind, str(item.get("task_description") or path), seeds, contexts)


def read_taxonomy(
    path: str | Path, chunk_words: int = 300, documents_root: str | None = None
) -> list[Leaf]:
    """Every leaf of a taxonomy folder, our YAML or JSON Lines, sorted by path."""
    p = Path(path)
    docs = Path(documents_root) if documents_root else None
    if p.is_dir():
        files = sorted(f for f in p.rglob("qna.yaml") if f.is_file())
        if not files:
            raise InputError(
                f"taxonomy: no qna.yaml under {p}",
                hint="give an InstructLab taxonomy folder, or a .yaml/.jsonl of seeds",
            )
        leaves = [parse_qna(f, p, chunk_words, docs) for f in files]
    elif p.suffix in (".jsonl", ".ndjson"):
        groups: dict[str, dict[str, Any]] = {}
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise InputError(f"taxonomy {p}:{n}: not JSON") from None
            if not isinstance(row, dict):
                raise InputError(f"taxonomy {p}:{n}: expected an object")
            leaf = groups.setdefault(
                str(row.get("path") or "seeds"),
                {"path": str(row.get("path") or "seeds"), "seeds": []},
            )
            if row.get("task_description"):
                leaf["task_description"] = row["task_description"]
            leaf["seeds"].append(row)
        leaves = [_own_leaf(g, f"taxonomy {p}", p.parent, chunk_words) for g in groups.values()]
    elif p.is_file():
        data = _load_yaml(p)
        items = data.get("leaves") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise InputError(f"taxonomy {p}: expected a list of leaves (or `leaves:`)")
        leaves = [_own_leaf(item, f"taxonomy {p}", p.parent, chunk_words) for item in items]
    else:
        raise InputError(f"taxonomy: {p} does not exist")
    paths = [leaf.path for leaf in leaves]
    if len(set(paths)) != len(paths):
        raise InputError(f"taxonomy {p}: leaf paths repeat")
    return sorted(leaves, key=lambda leaf: leaf.path)


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def leaf_id(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:10]


def parse_question(text: str | None) -> str | None:
    from curate.augment.targeted import parse_json_object

    obj = parse_json_object(text)
    q = obj.get("question") if obj else None
    return q.strip() if isinstance(q, str) and q.strip() else None


def parse_score(text: str | None) -> int | None:
    """The judge's ``{"score": 1..5}``; None for anything else (never guessed from prose)."""
    from curate.augment.targeted import parse_json_object

    obj = parse_json_object(text)
    s = obj.get("score") if obj else None
    if isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 5:
        return None
    return s
