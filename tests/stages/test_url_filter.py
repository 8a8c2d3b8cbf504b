"""url_filter: UT1 block and allow lists, URL normalisation, URL dedup and per-domain caps."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import read_dir, read_rejected
from curate.errors import ConfigError
from curate.runner import run_stage_frames
from curate.stages.url_filter import UrlFilter, UrlFilterConfig, normalized_url


def decide(cfg: dict, urls: list[str | None], shards: int = 1) -> dict[str, tuple[str | None, str | None]]:
    """url -> (reject reason, duplicate_of url) through the runner's global-stage units."""
    frame = pl.DataFrame({"id": [f"{i:03d}" for i in range(len(urls))], "text": ["t"] * len(urls), "url": urls}, schema={"id": pl.String, "text": pl.String, "url": pl.String})
    stage = UrlFilter(UrlFilterConfig(**cfg))
    size = max(1, -(-len(urls) // shards))
    with tempfile.TemporaryDirectory() as tmp:
        decisions = run_stage_frames(stage, [frame.slice(i, size) for i in range(0, len(urls), size)], Path(tmp), seed=1, commit=False)[1]
    by_id = {r["id"]: r for r in decisions.to_dicts()}
    url_of = dict(zip(frame["id"], frame["url"], strict=True))
    out = {}
    for i, u in url_of.items():
        r = by_id.get(i, {})
        out[str(u)] = (r.get("_reject"), url_of.get(r.get("duplicate_of")) if r.get("duplicate_of") else None)
    return out


@pytest.fixture
def ut1(tmp_path: Path) -> Path:
    """A block list in the UT1 layout: one folder per category, `domains` and `urls` files."""
    (tmp_path / "ut1" / "adult").mkdir(parents=True)
    (tmp_path / "ut1" / "gambling").mkdir()
    (tmp_path / "ut1" / "adult" / "domains").write_text("badsite.com\n# a comment\nsub.evil.org\n\nWWW.Shouty.NET\n")
    (tmp_path / "ut1" / "gambling" / "urls").write_text("example.com/casino\nhttp://news.org/sport/bets/\n")
    return tmp_path / "ut1"


def test_a_listed_domain_blocks_itself_and_its_subdomains_only(ut1: Path) -> None:
    got = decide({"blocklist": [str(ut1)]}, [
        "https://badsite.com/x", "http://www.a.badsite.com/", "https://notbadsite.com/", "https://evil.org/",
        "https://sub.evil.org/a", "https://x.sub.evil.org:8080/b", "https://shouty.net", "https://user@badsite.com./p",
    ])
    assert {u for u, (r, _) in got.items() if r == "url_blocked"} == {
        "https://badsite.com/x", "http://www.a.badsite.com/", "https://sub.evil.org/a", "https://x.sub.evil.org:8080/b",
        "https://shouty.net", "https://user@badsite.com./p",
    }


def test_url_entries_block_whole_path_prefixes(ut1: Path) -> None:
    got = decide({"blocklist": [str(ut1)]}, [
        "https://example.com/casino", "https://example.com/casino/poker?x=1", "https://example.com/casinos",
        "https://example.com/", "https://www.news.org/sport/bets/today", "https://news.org/sport/",
    ])
    assert {u for u, (r, _) in got.items() if r} == {
        "https://example.com/casino", "https://example.com/casino/poker?x=1", "https://www.news.org/sport/bets/today",
    }


def test_url_entries_match_the_host_in_any_case_and_the_path_exactly(tmp_path: Path) -> None:
    (tmp_path / "ut1" / "ads").mkdir(parents=True)
    (tmp_path / "ut1" / "ads" / "urls").write_text("Example.COM/Docs/Page.html\n")
    got = decide({"blocklist": [str(tmp_path / "ut1")]}, [
        "http://example.com/Docs/Page.html", "http://EXAMPLE.com/Docs/Page.html#x", "http://example.com/docs/page.html",
    ])
    assert {u for u, (r, _) in got.items() if r} == {"http://example.com/Docs/Page.html", "http://EXAMPLE.com/Docs/Page.html#x"}


def test_allowlist_entries_are_exceptions_and_only_allowed_keeps_just_them(ut1: Path, tmp_path: Path) -> None:
    allow = tmp_path / "allow.txt"
    allow.write_text("good.badsite.com\nwiki.org\n")
    urls = ["https://good.badsite.com/a", "https://badsite.com/b", "https://en.wiki.org/x", "https://other.com/"]
    got = decide({"blocklist": [str(ut1)], "allowlist": [str(allow)]}, urls)
    assert [got[u][0] for u in urls] == [None, "url_blocked", None, None]
    got = decide({"blocklist": [str(ut1)], "allowlist": [str(allow)], "only_allowed": True}, urls)
    assert [got[u][0] for u in urls] == [None, "url_blocked", None, "not_allowed"]


def test_documents_without_a_url_are_kept_or_rejected() -> None:
    urls = [None, "not a url", "https://a.com/"]
    assert [r for r, _ in decide({"url_dedup": True}, urls).values()] == [None, None, None]
    assert [r for r, _ in decide({"missing_url": "reject"}, urls).values()] == ["missing_url", "missing_url", None]


@pytest.mark.parametrize("a,b", [
    ("https://Example.COM/a?q=1", "http://www.example.com:80/a?q=1#top"),
    ("https://example.com", "https://example.com:443/"),
    ("https://example.com/p?utm_source=x&id=3&fbclid=y", "https://example.com/p?id=3"),
])
def test_urls_that_normalise_to_the_same_are_one_document(a: str, b: str) -> None:
    got = decide({"url_dedup": True}, [a, b, "https://example.com/other"])
    assert got[a] == (None, None) and got[b] == ("url_duplicate", a)
    assert got["https://example.com/other"] == (None, None)


@pytest.mark.parametrize("a,b", [("https://example.com/a", "https://example.com/A"), ("https://example.com/p?id=3", "https://example.com/p?id=4")])
def test_paths_and_queries_keep_their_case_and_values(a: str, b: str) -> None:
    n = pl.select(normalized_url(pl.lit(a)).alias("a"), normalized_url(pl.lit(b)).alias("b")).row(0)
    assert n[0] != n[1]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a.com", "b.org", "www.a.com", "c.net"]), st.integers(0, 6)), max_size=40), st.integers(1, 4), st.integers(1, 5))
def test_domain_caps_hold_and_do_not_depend_on_shards(pages: list[tuple[str, int]], cap: int, shards: int) -> None:
    urls = [f"https://{host}/page{i}?n={k}" for k, (host, i) in enumerate(pages)]
    one = decide({"max_per_domain": cap, "url_dedup": True}, urls)
    assert decide({"max_per_domain": cap, "url_dedup": True}, urls, shards) == one
    kept: dict[str, int] = {}
    for u, (reason, _) in one.items():
        if reason is None:
            host = u.split("/")[2].removeprefix("www.")
            kept[host] = kept.get(host, 0) + 1
    assert all(n <= cap for n in kept.values())
    for host in {h.removeprefix("www.") for h, _ in pages}:
        assert kept.get(host, 0) == min(cap, len({u for u in urls if u.split("/")[2].removeprefix("www.") == host}))


def test_url_filter_command_on_ingested_warc_columns(cli, tmp_path: Path, ut1: Path) -> None:
    src = tmp_path / "pages.jsonl"
    pl.DataFrame({"text": ["one", "two", "three"], "url": ["https://badsite.com/", "https://ok.com/a", "https://ok.com/a#x"]}).write_ndjson(src)
    out = tmp_path / "out"
    result = cli("url-filter", src, "-o", out, "--block", ut1, "--url-dedup", "--workers", "1", "-q")
    assert result.exit_code == 0, result.output
    assert read_dir(out)["text"].to_list() == ["two"]
    assert sorted(read_rejected(out)["reject_reason"].to_list()) == ["url_blocked", "url_duplicate"]


def test_config_mistakes_are_clear(cli, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to do"):
        UrlFilterConfig()
    with pytest.raises(ValueError, match="only_allowed needs an allowlist"):
        UrlFilterConfig(url_dedup=True, only_allowed=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no file named `domains` or `urls`"):
        UrlFilterConfig(blocklist=[str(tmp_path / "empty")]).input_paths()
    src = tmp_path / "d.jsonl"
    src.write_text('{"text": "no url column"}\n')
    result = cli("url-filter", src, "-o", tmp_path / "o", "--url-dedup")
    assert result.exit_code == 2 and "url_column: no column 'url'" in result.output
