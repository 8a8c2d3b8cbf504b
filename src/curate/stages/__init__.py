"""The stage registry: every stage kind, the module and class that implement it, listed by hand
(no import magic).

A stage's module is imported the first time its kind is looked up (``REGISTRY[kind]``), not when
this package is: a worker that ingests and exports never loads augment, pii, graph or select, and
their numpy tables. Listing names (``sorted(REGISTRY)``, ``kind in REGISTRY``) imports nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

from curate.stages.base import Stage, StageConfig

# kind -> (module, class): the order is the order `curate stages` has always listed
_STAGES: dict[str, tuple[str, str]] = {
    "exact_dedup": ("curate.stages.exact_dedup", "ExactDedup"),
    "minhash_dedup": ("curate.stages.minhash_dedup", "MinhashDedup"),
    "quality_score": ("curate.stages.quality_score", "QualityScore"),
    "filter": ("curate.stages.filter", "Filter"),
    "augment": ("curate.stages.augment", "Augment"),
    "targeted_augment": ("curate.stages.targeted_augment", "TargetedAugment"),
    "lab_generate": ("curate.stages.lab_generate", "LabGenerate"),
    "pii": ("curate.stages.pii", "Pii"),
    "decontaminate": ("curate.stages.decontaminate", "Decontaminate"),
    "select": ("curate.stages.select", "Select"),
    "tokens": ("curate.stages.tokens", "Tokens"),
    "dsir_score": ("curate.stages.dsir_score", "DsirScore"),
    "c4_clean": ("curate.stages.c4_clean", "C4Clean"),
    "bad_words": ("curate.stages.bad_words", "BadWords"),
    "learnability_score": ("curate.stages.learnability", "LearnabilityScore"),
    "chunk": ("curate.stages.chunk", "Chunk"),
    "extract_html": ("curate.stages.extract_html", "ExtractHtml"),
    "url_filter": ("curate.stages.url_filter", "UrlFilter"),
}


class StageRegistry(MutableMapping[str, type[Stage]]):
    """``kind -> stage class``, importing a stage's module on first lookup.

    A mapping like the dict it replaces: iteration and ``in`` give the kinds without importing
    anything; ``[kind]``, ``values()`` and ``items()`` import what they return. Setting a kind
    (tests register a stage of their own) stores the class itself.
    """

    def __init__(self, paths: dict[str, tuple[str, str]]) -> None:
        self._paths = dict(paths)
        self._classes: dict[str, type[Stage]] = {}

    def __getitem__(self, kind: str) -> type[Stage]:
        cls = self._classes.get(kind)
        if cls is None:
            module, name = self._paths[kind]  # KeyError for an unknown kind, like a dict
            cls = getattr(importlib.import_module(module), name)
            if cls.kind != kind:
                raise TypeError(f"stage registry: {module}.{name} has kind {cls.kind!r}, registered as {kind!r}")
            self._classes[kind] = cls
        return cls

    def __setitem__(self, kind: str, cls: type[Stage]) -> None:
        self._paths[kind] = (cls.__module__, cls.__qualname__)
        self._classes[kind] = cls

    def __delitem__(self, kind: str) -> None:
        del self._paths[kind]
        self._classes.pop(kind, None)

    def __contains__(self, kind: object) -> bool:
        return kind in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"StageRegistry({list(self._paths)})"

    def location(self, kind: str) -> tuple[str, str]:
        """The (module, class name) implementing ``kind``, without importing it."""
        return self._paths[kind]


REGISTRY = StageRegistry(_STAGES)


def stage_config_models() -> list[type[StageConfig]]:
    """The config model of every registered stage (imports every stage module)."""
    return [cls.Config for cls in REGISTRY.values()]


def build_stage(cfg: StageConfig) -> Stage:
    """Instantiate the stage class for a validated config."""
    return REGISTRY[cfg.kind](cfg)
