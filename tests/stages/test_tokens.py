"""tokens: token counts pinned to tiktoken's own encodings, offline; totals per source and split."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_series_equal
from pydantic import ValidationError

from conftest import write_config, write_jsonl
from curate.stages.base import StageContext
from curate.stages.tokens import Tokens, TokensConfig
from curate.tokenize import ENCODINGS, load_encoding, read_ranks

TEXTS = [
    "hello world",
    "tiktoken is great!",
    "Größe über Straße — naïve café, 東京都 ночь 🤖🤖 ¯\\_(ツ)_/¯",
    "def f(x):\n    return x ** 2  # squares\n\n\n\t\tindent",
    "   leading and trailing   ",
    "numbers 1234567 3.14159 and <|endoftext|> as text, don't we'll I'M",
    "line\r\nbreaks\rand\u00a0nbsp\u2003em space",
    "",
]

# ids published for these strings (OpenAI cookbook, "How to count tokens with tiktoken")
PINNED = {
    ("cl100k_base", "hello world"): [15339, 1917],
    ("cl100k_base", "tiktoken is great!"): [83, 1609, 5963, 374, 2294, 0],
    ("o200k_base", "hello world"): [24912, 2375],
    ("o200k_base", "tiktoken is great!"): [83, 8251, 2488, 382, 2212, 0],
}


def frame(texts: list[str | None], sources: list[str | None] | None = None) -> pl.DataFrame:
    n = len(texts)
    return pl.DataFrame(
        {"id": [f"{i:04d}" for i in range(n)], "text": texts, "source": sources or ["web"] * n},
        schema={"id": pl.String, "text": pl.String, "source": pl.String},
    )


def run_stage(texts: list[str | None], sources: list[str | None] | None = None, **cfg: Any) -> tuple[pl.DataFrame, StageContext]:
    stage = Tokens(TokensConfig(**cfg))
    stage.setup()
    ctx = StageContext()
    return stage.process(frame(texts, sources), ctx), ctx


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_shipped_ranks_are_tiktokens_files(name: str) -> None:
    """The shipped file decompresses to exactly the file tiktoken pins by sha256, and our
    encoding is defined as tiktoken_ext.openai_public defines it (pattern, special tokens)."""
    import tiktoken_ext.openai_public as public

    spec = ENCODINGS[name]
    data = gzip.decompress(spec.file.read_bytes())
    assert hashlib.sha256(data).hexdigest() == spec.sha256
    seen: dict[str, Any] = {}

    def fake_load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen.update(url=url, expected_hash=expected_hash)
        return {}

    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = fake_load
    try:
        reference = getattr(public, name)()
    finally:
        public.load_tiktoken_bpe = original
    assert seen["expected_hash"] == spec.sha256 and seen["url"].endswith(f"/{name}.tiktoken")
    assert reference["pat_str"] == spec.pat_str
    assert reference["special_tokens"] == spec.special_tokens
    ranks = read_ranks(spec)
    assert len(ranks) == {"cl100k_base": 100256, "o200k_base": 199998}[name]


@pytest.mark.parametrize(("name", "text"), list(PINNED))
def test_token_ids_pinned_to_published_reference(name: str, text: str) -> None:
    assert load_encoding(name).encode_ordinary(text) == PINNED[(name, text)]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_counts_are_the_encodings_lengths(name: str) -> None:
    enc = load_encoding(name)
    out, ctx = run_stage(TEXTS, tokenizer=name)
    assert out.schema["token_count"] == pl.Int32
    assert out["token_count"].to_list() == [len(enc.encode_ordinary(t)) for t in TEXTS]
    assert out["token_count"][0] == 2  # "hello world"
    assert ctx.counters["tokens_total"] == out["token_count"].sum()


def test_whitespace_counts_words() -> None:
    texts = ["hello world", "  a\tb\nc  ", "", "   ", "Größe über\u00a0Straße", "x"]
    out, ctx = run_stage(texts, tokenizer="whitespace")
    assert out["token_count"].to_list() == [2, 3, 0, 0, 3, 1]
    assert out["token_count"].to_list() == [len(t.split()) for t in texts]
    assert ctx.counters["tokens_total"] == 9


@pytest.mark.parametrize("tokenizer", ["cl100k_base", "o200k_base", "whitespace"])
def test_nulls_and_empty_texts(tokenizer: str) -> None:
    out, ctx = run_stage([None, "", "  ", None, "hello world"], tokenizer=tokenizer)
    counts = out["token_count"].to_list()
    assert counts[0] is None and counts[3] is None
    assert counts[1] == 0 and counts[4] == 2
    assert ctx.counters["tokens_total"] == sum(c for c in counts if c)
    empty, ctx = run_stage([], tokenizer=tokenizer)
    assert empty.height == 0 and empty.schema["token_count"] == pl.Int32
    assert not ctx.counters  # zeros are never counted


def test_totals_per_source_and_input_kept() -> None:
    texts = ["a b c", "d e", None, "f", "g h i j"]
    sources = ["web", "books", "web", None, "web"]
    out, ctx = run_stage(texts, sources, tokenizer="whitespace", column="n_tokens")
    assert out.columns == ["id", "text", "source", "n_tokens"]
    assert out.drop("n_tokens").equals(frame(texts, sources))
    assert dict(ctx.counters) == {"tokens_total": 10, "tokens_source_web": 7, "tokens_source_books": 2, "tokens_source_(none)": 1}


def test_long_batches_cross_chunks_with_nulls(monkeypatch: pytest.MonkeyPatch) -> None:
    import curate.tokenize as tk

    monkeypatch.setattr(tk, "CHUNK", 3)
    texts = ["one two", None, "three", "", None, "four five six", "seven"]
    out, _ = run_stage(texts, tokenizer="cl100k_base")
    enc = load_encoding("cl100k_base")
    assert out["token_count"].to_list() == [None if t is None else len(enc.encode_ordinary(t)) for t in texts]


def test_existing_column_is_replaced_and_stage_pickles_without_tokenizer() -> None:
    stage = Tokens(TokensConfig())
    stage.setup()
    clone = pickle.loads(pickle.dumps(stage))
    assert clone._counter is None
    batch = frame(["hello world"]).with_columns(token_count=pl.lit("stale"))
    out = clone.process(batch, StageContext())
    assert out["token_count"].to_list() == [2] and out.schema["token_count"] == pl.Int32


def test_config_validation() -> None:
    with pytest.raises(ValidationError, match="needs `path`"):
        TokensConfig(tokenizer="file")
    with pytest.raises(ValidationError, match="only with tokenizer: file"):
        TokensConfig(tokenizer="cl100k_base", path="tok.json")
    with pytest.raises(ValidationError, match="core column"):
        TokensConfig(column="text")
    with pytest.raises(ValidationError):
        TokensConfig(tokenizer="gpt2")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TokensConfig(column="_scratch")
    stage = Tokens(TokensConfig(tokenizer="file", path="t.json"))
    assert stage.requires_packages == (("tokenizers", "tokens"),)
    assert Tokens(TokensConfig()).requires_packages == ()
    assert TokensConfig().input_paths() == [("tokenizer", str(ENCODINGS["cl100k_base"].file))]
    assert TokensConfig(tokenizer="whitespace").input_paths() == []


def _tiny_tokenizer_json(path: Path) -> Path:
    """A byte-level BPE trained on a few sentences, with a post-processor that adds [CLS]/[SEP]
    (which a token count must not include)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["the quick brown fox jumps over the lazy dog"] * 20 + ["hello world, hello tokens"] * 20
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["[CLS]", "[SEP]"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    tok.save(str(path))
    return path


def test_file_tokenizer_counts_like_tokenizers(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    path = _tiny_tokenizer_json(tmp_path / "tokenizer.json")
    ref = Tokenizer.from_file(str(path))
    texts: list[str | None] = ["the quick brown fox", "hello world", None, "", "zebra ünïcode 🤖"]
    out, ctx = run_stage(texts, tokenizer="file", path=str(path))
    expected = [None if t is None else len(ref.encode(t, add_special_tokens=False).ids) for t in texts]
    assert out["token_count"].to_list() == expected
    assert len(ref.encode("hello world").ids) == expected[1] + 2  # [CLS] and [SEP] are not counted
    assert expected[0] < 8 and expected[4] > 3  # merges learned; unseen text falls back to bytes
    assert ctx.counters["tokens_total"] == sum(e for e in expected if e)


NO_NETWORK = """
import socket

def _refuse(*args, **kwargs):
    raise OSError("network disabled by the test's sitecustomize")

class _NoSocket(socket.socket):
    def __init__(self, *args, **kwargs):
        _refuse()

socket.socket = _NoSocket
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""

OFFLINE_CHECK = """
import hashlib, json, os, sys
from pathlib import Path
import polars as pl

from curate.stages.base import StageContext
from curate.stages.tokens import Tokens, TokensConfig
from curate.tokenize import ENCODINGS, load_encoding

texts = json.loads(sys.argv[1])
counts = {}
for name in ("cl100k_base", "o200k_base"):
    stage = Tokens(TokensConfig(tokenizer=name))
    stage.setup()
    out = stage.process(pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}), StageContext())
    counts[name] = out["token_count"].to_list()
ours_loaded = {"requests": "requests" in sys.modules, "openai_public": "tiktoken_ext.openai_public" in sys.modules}

import tiktoken
try:  # the proof that the network is off: tiktoken's own loader has nothing cached and fails
    tiktoken.get_encoding("cl100k_base")
    fetch = "downloaded"
except Exception as err:
    fetch = type(err).__name__ + ": " + str(err)

# tiktoken's reference: its own definitions, reading the rank files from its cache (seeded with ours)
import gzip
cache = Path(os.environ["TIKTOKEN_CACHE_DIR"])
same = {}
for name in ("cl100k_base", "o200k_base"):
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(gzip.decompress(ENCODINGS[name].file.read_bytes()))
    ref = tiktoken.get_encoding(name)
    ours = load_encoding(name)
    same[name] = all(ref.encode_ordinary(t) == ours.encode_ordinary(t) for t in texts) and counts[name] == [len(ref.encode_ordinary(t)) for t in texts]
print(json.dumps({"counts": counts, "loaded": ours_loaded, "fetch": fetch, "same": same}))
"""


def _offline_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        TIKTOKEN_CACHE_DIR=str(cache),
        HF_HUB_OFFLINE="1",
    )
    for name in ("DATA_GYM_CACHE_DIR", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    return env


def test_tokenizers_run_with_the_network_off_and_match_tiktoken(tmp_path: Path) -> None:
    """In a fresh interpreter whose sockets all raise and whose tiktoken cache is empty: both
    encodings load from the shipped files and count; tiktoken's own loader fails there (so it
    would have needed the network); then, fed the same files through its cache, tiktoken's own
    encodings give the same ids for every text."""
    env = _offline_env(tmp_path)
    run = subprocess.run([sys.executable, "-c", OFFLINE_CHECK, json.dumps(TEXTS)], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["loaded"] == {"requests": False, "openai_public": False}
    assert "network disabled" in result["fetch"], result["fetch"]
    assert result["same"] == {"cl100k_base": True, "o200k_base": True}
    assert result["counts"]["cl100k_base"][:2] == [2, 6]
    assert result["counts"]["o200k_base"][:2] == [2, 6]


def test_tokens_command_runs_with_the_network_off(tmp_path: Path) -> None:
    """`curate tokens` end to end (spawned workers inherit the blocked sockets)."""
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in TEXTS if t] * 3)
    env = _offline_env(tmp_path)
    for name in ("cl100k_base", "o200k_base"):
        out = tmp_path / name
        cmd = [sys.executable, "-m", "curate", "tokens", str(src), "-o", str(out), "--tokenizer", name, "-w", "2", "-q"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
        assert run.returncode == 0, run.stderr
        data = pl.read_parquet(out / "*.parquet")
        enc = load_encoding(name)
        assert_series_equal(data["token_count"], data["text"].map_elements(lambda t, e=enc: len(e.encode_ordinary(t)), return_dtype=pl.Int32), check_names=False)
    assert not list((tmp_path / "tiktoken-cache").iterdir())


def test_manifest_and_card_totals_per_source_and_split(cli, tmp_path: Path) -> None:
    web = [{"text": f"web page {i} " + "word " * (i % 7)} for i in range(60)]
    books = [{"text": f"Chapter {i}. " + "It was the best of times. " * (1 + i % 3)} for i in range(40)]
    cfg = {
        "input": {"sources": [{"paths": [str(write_jsonl(tmp_path / "web.jsonl", web))], "source": "web"},
                              {"paths": [str(write_jsonl(tmp_path / "books.jsonl", books))], "source": "books"}],
                  "rows_per_shard": 30},
        "workdir": str(tmp_path / "work"),
        "output": {"path": str(tmp_path / "out"), "split": {"validation": 0.2, "test": 0.1}, "rows_per_shard": 25},
        "engine": {"workers": 1},
        "stages": [{"kind": "tokens"}, {"kind": "filter", "rules": {"short_books": "source != 'books' or token_count < 15"}}],
    }
    result = cli("run", write_config(tmp_path, cfg), "-q")
    assert result.exit_code == 0, result.output
    enc = load_encoding("cl100k_base")

    # the step manifest: what the tokens stage saw (before the filter), per source
    step = json.loads(next((tmp_path / "work").glob("*_tokens/_manifest.json")).read_text())
    want = {name: sum(len(enc.encode_ordinary(r["text"])) for r in rows) for name, rows in (("web", web), ("books", books))}
    assert step["tokens"] == {"tokenizer": "cl100k_base", "column": "token_count", "total": sum(want.values()), "by_source": want}

    # the release: token_count sums per split and source, from the files themselves
    out = tmp_path / "out"
    manifest = json.loads((out / "_manifest.json").read_text())
    per_split = {s: int(pl.read_parquet(out / s / "*.parquet")["token_count"].sum()) for s in ("train", "validation", "test")}
    everything = pl.concat([pl.read_parquet(out / s / "*.parquet") for s in per_split])
    per_source = dict(everything.group_by("source").agg(pl.col("token_count").sum()).iter_rows())
    assert manifest["tokens"] == {"column": "token_count", "total": sum(per_split.values()), "splits": per_split, "sources": dict(sorted(per_source.items()))}
    assert per_source["books"] < want["books"] and per_source["web"] == want["web"]  # the filter ran after counting
    assert everything["token_count"].to_list() == [len(enc.encode_ordinary(t)) for t in everything["text"]]

    card = (out / "README.md").read_text()
    assert "| split | documents | tokens |" in card
    for split, n in per_split.items():
        assert f"| {split} | {manifest['splits'][split]:,} | {n:,} |" in card
    assert f"| books | {manifest['sources']['books']:,} | {per_source['books']:,} |" in card
    assert "(cl100k_base, step `01_tokens`)" in card
    assert "## Tokens counted" in card and f"| web | {want['web']:,} |" in card


def test_card_has_no_token_columns_without_the_column(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "a b"}, {"text": "c"}])
    cfg = {"input": {"paths": [str(src)]}, "workdir": str(tmp_path / "work"), "output": {"path": str(tmp_path / "out"), "columns": ["id", "text"]},
           "engine": {"workers": 1}, "stages": [{"kind": "tokens", "tokenizer": "whitespace"}]}
    result = cli("run", write_config(tmp_path, cfg), "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert "tokens" not in manifest  # token_count was not exported
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| split | documents |\n" in card and "## Tokens counted" in card


def test_tokens_command_with_a_tokenizer_file(cli, tmp_path: Path) -> None:
    path = _tiny_tokenizer_json(tmp_path / "tokenizer.json")
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "hello world"}, {"text": "the lazy dog"}])
    out = tmp_path / "out"
    result = cli("tokens", src, "-o", out, "--tokenizer-file", path, "--column", "n_tok", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    data = pl.read_parquet(out / "*.parquet")
    assert data["n_tok"].dtype == pl.Int32 and data["n_tok"].min() > 0
    bad = cli("tokens", src, "-o", tmp_path / "bad", "--tokenizer", "whitespace", "--tokenizer-file", path, "-q")
    assert bad.exit_code == 2 and "only with tokenizer: file" in bad.stderr


def test_import_does_not_load_tokenizers() -> None:
    code = textwrap.dedent(
        """
        import sys
        import curate.cli, curate.stages
        from curate.stages.tokens import TokensConfig
        TokensConfig().input_paths()
        print(sorted(m for m in ("tiktoken", "tokenizers", "regex", "requests") if m in sys.modules))
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
