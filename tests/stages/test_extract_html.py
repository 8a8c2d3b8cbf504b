"""extract_html: HTML in `text` -> main text, the extractor recorded, failures rejected with their reason."""

from __future__ import annotations

import polars as pl
import pytest

from conftest import read_dir, read_rejected
from curate.errors import ConfigError
from curate.stages.base import REJECT, REJECT_DETAIL, StageContext
from curate.stages.extract_html import ExtractHtml, ExtractHtmlConfig

ARTICLE = (
    "<html><body><nav><a href='/'>Home</a> | <a href='/about'>About us</a></nav><article><h1>Title</h1>"
    "<p>{p}</p></article><footer>Copyright 2024, all rights reserved.</footer></body></html>"
)
PARAGRAPH = "Curation keeps the documents worth training on and explains every one it removes, with a reason."


def run(cfg: dict, texts: list[str]) -> tuple[pl.DataFrame, StageContext]:
    stage = ExtractHtml(ExtractHtmlConfig(**cfg))
    ctx = StageContext(0, 0, "extract_html")
    batch = pl.DataFrame({"id": [str(i) for i in range(len(texts))], "text": texts}, schema={"id": pl.String, "text": pl.String})
    return stage.process(batch, ctx), ctx


@pytest.mark.parametrize("extractor", ["resiliparse", "trafilatura"])
def test_main_text_replaces_the_html_and_the_extractor_is_recorded(extractor: str) -> None:
    out, ctx = run({"extractor": extractor}, [ARTICLE.format(p=PARAGRAPH)])
    text = out["text"][0]
    assert PARAGRAPH in text and "About us" not in text and "<p>" not in text
    assert out["html_extractor"].to_list() == [extractor]
    assert ctx.counters == {f"html_extractor_{extractor}": 1}


def test_justext_keeps_the_article_and_drops_the_navigation() -> None:
    out, _ = run({"extractor": "justext"}, [ARTICLE.format(p=PARAGRAPH * 3)])
    assert out["text"][0] == "Title\n" + PARAGRAPH * 3


def test_union_keeps_the_preferred_output_unless_the_other_has_many_more_words() -> None:
    table = "<table>" + "".join(f"<tr><td>row {i}</td><td>value {i * i}</td><td>unit</td></tr>" for i in range(40)) + "</table>"
    article = ARTICLE.format(p=PARAGRAPH * 3)
    pages = [article, article.replace("</article>", table + "</article>"), ARTICLE.format(p=PARAGRAPH)]
    out, ctx = run({"extractor": "union", "union_of": ["justext", "resiliparse"]}, pages)
    # page 0: both agree but for a few words of page chrome (fewer than 20): justext's output is kept;
    # page 1: justext drops the table (~240 words), so resiliparse's output, with it, is kept;
    # page 2: justext finds nothing in a page of one short paragraph: resiliparse's output is kept
    assert out["html_extractor"].to_list() == ["justext", "resiliparse", "resiliparse"]
    assert "value 1521" in out["text"][1] and "About us" not in out["text"][0]
    assert PARAGRAPH in out["text"][2]
    assert ctx.counters == {"html_extractor_justext": 1, "html_extractor_resiliparse": 2}


def test_boilerplate_only_and_oversized_pages_are_rejected_with_their_reason() -> None:
    nav_only = "<html><body><nav><a href='/'>Home</a><a href='/b'>Blog</a></nav></body></html>"
    big = ARTICLE.format(p="word " * 500)
    out, _ = run({"max_bytes": 2000}, [nav_only, big, ARTICLE.format(p=PARAGRAPH), ""])
    assert out[REJECT].to_list() == ["no_main_content", "html_too_large", None, "no_main_content"]
    assert out[REJECT_DETAIL][1] == f"page of {len(big):,} bytes, over max_bytes=2,000"
    assert out["text"][1] == big  # a rejected row keeps its HTML


def test_empty_batch() -> None:
    out, ctx = run({}, [])
    assert out.height == 0 and "html_extractor" in out.columns and not ctx.counters


def test_extract_html_command_sends_rejections_to_rejected(cli, tmp_path) -> None:
    src = tmp_path / "pages.jsonl"
    pl.DataFrame({"text": [ARTICLE.format(p=PARAGRAPH), "<html><body><nav>Home</nav></body></html>"]}).write_ndjson(src)
    out = tmp_path / "out"
    result = cli("extract-html", src, "-o", out, "--extractor", "resiliparse", "--workers", "1", "-q")
    assert result.exit_code == 0, result.output
    assert read_dir(out)["text"].to_list() == ["Title\n\n" + PARAGRAPH]
    assert read_rejected(out)["reject_reason"].to_list() == ["no_main_content"]


def test_bad_options_are_config_errors(cli, tmp_path) -> None:
    result = cli("extract-html", tmp_path, "-o", tmp_path / "o", "--extractor", "boilerpipe")
    assert result.exit_code == 2 and "extract_html.extractor" in result.output
    with pytest.raises(ConfigError, match="union_of: two different extractors"):
        from curate.cli import _stage_config

        _stage_config("extract_html", {"extractor": "union", "union_of": ["justext", "justext"]})
