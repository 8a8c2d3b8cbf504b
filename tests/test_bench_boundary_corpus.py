"""benchmarks/dedup/build_boundary_corpus.py: its Jaccard, roff stripping and copy targeting, on tiny inputs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "dedup"))
import build_boundary_corpus as bbc  # noqa: E402


def test_jaccard_of_three_documents():
    a = "One two three four five six"  # shingles: 1-5, 2-6
    b = "one, TWO three four five six seven"  # 1-5, 2-6, 3-7
    c = "nothing in common with the others"
    assert bbc.jaccard(a, b) == 2 / 3
    assert bbc.jaccard(a, c) == 0.0
    assert bbc.jaccard(b, c) == 0.0
    assert bbc.jaccard("Short text", "short, TEXT!") == 1.0  # under 5 tokens: one shingle


def test_strip_roff_keeps_text_and_macro_arguments():
    src = '.\\" comment\n.TH LS 1\n.SH "NAME"\nls \\- list \\fBdirectory\\fR contents\n.PP\n.de XX\nhidden\n..\nend'
    assert bbc.strip_roff(src) == "LS 1\nNAME\nls - list directory contents\nend"


def test_edited_copy_lands_near_its_target():
    text = " ".join(f"w{i}" for i in range(400))
    bbc._init_copies([f"v{i}" for i in range(50)], 0)
    for k, target in enumerate((0.72, 0.8, 0.88)):
        copy, j = bbc.make_copy((k, text, target))
        assert j == bbc.jaccard(text, copy)
        assert abs(j - target) <= bbc.TOL
