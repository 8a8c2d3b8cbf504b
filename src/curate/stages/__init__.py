"""The stage registry: every stage kind and its config model, listed by hand (no import magic)."""

from __future__ import annotations

from curate.stages.augment import Augment
from curate.stages.bad_words import BadWords
from curate.stages.base import Stage, StageConfig
from curate.stages.c4_clean import C4Clean
from curate.stages.chunk import Chunk
from curate.stages.decontaminate import Decontaminate
from curate.stages.dsir_score import DsirScore
from curate.stages.exact_dedup import ExactDedup
from curate.stages.extract_html import ExtractHtml
from curate.stages.filter import Filter
from curate.stages.lab_generate import LabGenerate
from curate.stages.learnability import LearnabilityScore
from curate.stages.minhash_dedup import MinhashDedup
from curate.stages.pii import Pii
from curate.stages.quality_score import QualityScore
from curate.stages.select import Select
from curate.stages.targeted_augment import TargetedAugment
from curate.stages.tokens import Tokens
from curate.stages.url_filter import UrlFilter

REGISTRY: dict[str, type[Stage]] = {
    cls.kind: cls
    for cls in (
        ExactDedup,
        MinhashDedup,
        QualityScore,
        Filter,
        Augment,
        TargetedAugment,
        LabGenerate,
        Pii,
        Decontaminate,
        Select,
        Tokens,
        DsirScore,
        C4Clean,
        BadWords,
        LearnabilityScore,
        Chunk,
        ExtractHtml,
        UrlFilter,
    )
}


def stage_config_models() -> list[type[StageConfig]]:
    """The config model of every registered stage, for the tagged union in ``config.py``."""
    return [cls.Config for cls in REGISTRY.values()]


def build_stage(cfg: StageConfig) -> Stage:
    """Instantiate the stage class for a validated config."""
    return REGISTRY[cfg.kind](cfg)
