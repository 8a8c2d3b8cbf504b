"""LLM cache paths resolve against the config file's folder, not the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.config import load_config

CONFIG = """
input: {paths: [data.jsonl]}
stages:
  - {kind: augment, llm: {base_url: "http://127.0.0.1:8000/v1", model: m, cache_path: cache/a.sqlite}}
  - kind: targeted_augment
    predictions: preds.jsonl
    teacher: {base_url: "http://127.0.0.1:8000/v1", model: t, cache_path: cache/t.sqlite}
"""


def test_cache_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "run.yaml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)  # elsewhere: the paths must not depend on it
    cfg = load_config(folder / "run.yaml")
    augment, targeted = cfg.stages
    assert augment.llm.cache_path == str(folder / "cache" / "a.sqlite")
    assert targeted.teacher.cache_path == str(folder / "cache" / "t.sqlite")
    assert targeted.predictions == str(folder / "preds.jsonl")


@pytest.mark.parametrize(
    ("kind", "section"),
    [
        ("augment", "augment.llm"),
        ("augment", "augment.ops[]"),
        ("augment", "augment.degradations[]"),
        ("quality_score", "quality_score.fasttext[]"),
        ("targeted_augment", "targeted_augment.teacher"),
    ],
)
def test_every_key_of_every_nested_section_is_documented(kind: str, section: str) -> None:
    from curate.docs import describe_kind, nested_sections, reference
    from curate.stages import REGISTRY

    model = dict(nested_sections(REGISTRY[kind].Config, kind))[section]
    shown, ref = describe_kind(kind), reference()
    committed = (Path(__file__).parents[2] / "docs" / "config-reference.md").read_text()
    for text in (shown, ref, committed):
        assert f"`{section}`" in text
        block = text.split(f"`{section}`", 1)[1]
        for key in model.model_fields:
            assert f"| `{key}` |" in block, (section, key)
