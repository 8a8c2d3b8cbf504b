"""pii: detection columns, counters, overlaps, vetoes, the five policies, the pseudonym key, routing."""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from conftest import read_dir, read_rejected, write_jsonl
from curate.errors import ConfigError
from curate.runner import run_stage_frames
from curate.stages.base import REJECT, REJECT_DETAIL, StageContext
from curate.stages.pii import SPAN_TYPE, Pii, PiiConfig

KEY_ENV = "CURATE_PII_TEST_KEY"
KEY = "k3y-Th4t-Must-N3ver-Leak-0x5f3759df"

TEXTS = [
    "Mail john.doe@example.com or call +44 20 7946 0958.",
    "Card 4111 1111 1111 1111 and IBAN DE89 3704 0044 0532 0130 00.",
    "Server 8.8.8.8 but not 192.168.0.1 nor version 1.2.3.4",
    "Nothing to see here.",
    None,
    "",
    "Grüße aus Köln: jörg@exämple.de, Tel. 030 12345678",
    'api_key = "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW" at 2001:4860:4860::8888',
]
LANGS = [None, None, None, None, None, None, "de", None]


def frame(texts: list[str | None] = TEXTS, langs: list[str | None] | None = LANGS) -> pl.DataFrame:
    data: dict = {"id": [f"{i:03d}" for i in range(len(texts))], "text": texts, "source": ["s"] * len(texts)}
    if langs is not None:
        data["lang"] = langs
    return pl.DataFrame(data, schema_overrides={"text": pl.String, **({"lang": pl.String} if langs is not None else {})})


def run(cfg: PiiConfig, df: pl.DataFrame | None = None) -> tuple[pl.DataFrame, StageContext]:
    ctx = StageContext()
    return Pii(cfg).process(frame() if df is None else df, ctx), ctx


def test_placeholders_counts_spans_and_counters() -> None:
    out, ctx = run(PiiConfig(spans=True))
    assert out["text"].to_list() == [
        "Mail <EMAIL> or call <PHONE>.",
        "Card <CREDIT_CARD> and IBAN <IBAN>.",
        "Server <IPV4> but not 192.168.0.1 nor version 1.2.3.4",
        "Nothing to see here.",
        None,
        "",
        "Grüße aus Köln: <EMAIL>, Tel. <PHONE>",
        'api_key = "<SECRET>" at <IPV6>',
    ]
    stage = Pii(PiiConfig(spans=True))
    assert out.columns == [*frame().columns, *stage.output_columns()]
    assert stage.added_schema() == {c: out.schema[c] for c in stage.output_columns()}
    assert out["pii_email"].to_list() == [1, 0, 0, 0, 0, 0, 1, 0]
    assert out["pii_phone"].to_list() == [1, 0, 0, 0, 0, 0, 1, 0]
    assert out["pii_ipv4"].to_list() == [0, 0, 1, 0, 0, 0, 0, 0]
    assert out.schema["pii_email"] == pl.Int32 and out.schema["pii_spans"] == SPAN_TYPE
    spans = out["pii_spans"].to_list()
    assert spans[0] == [{"start": 5, "end": 25, "type": "email"}, {"start": 34, "end": 50, "type": "phone"}]
    assert spans[4] == [] and spans[5] == []
    original = TEXTS[6]
    assert [original[s["start"] : s["end"]] for s in spans[6]] == ["jörg@exämple.de", "030 12345678"]  # code points
    assert ctx.counters["pii_email"] == 2 and ctx.counters["pii_docs_email"] == 2
    assert ctx.counters["pii_ipv4"] == 1 and ctx.counters["pii_invalid_ipv4"] == 2  # private and version
    assert ctx.counters["pii_secret"] == 1 and ctx.counters["pii_ipv6"] == 1
    assert ctx.counters["pii_credit_card"] == 1 and ctx.counters["pii_iban"] == 1
    assert REJECT not in out.columns


def test_empty_batch_nulls_and_no_text_column_type_surprises() -> None:
    out, ctx = run(PiiConfig(spans=True), frame([], []))
    assert out.height == 0 and "pii_email" in out.columns and out.schema["pii_spans"] == SPAN_TYPE
    out, _ = run(PiiConfig(), frame([None, None, ""], None))
    assert out["text"].to_list() == [None, None, ""]
    assert out["pii_phone"].to_list() == [0, 0, 0]


def test_types_and_custom_patterns_choose_columns() -> None:
    cfg = PiiConfig(types=["email"], custom={"employee_id": r"EMP-\d{6}"}, policy={"employee_id": "mask"})
    out, ctx = run(cfg, frame(["EMP-123456 wrote to a@example.com and 8.8.8.8"], None))
    assert out["text"][0] == "***-****** wrote to <EMAIL> and 8.8.8.8"
    assert [c for c in out.columns if c.startswith("pii_")] == ["pii_email", "pii_employee_id"]
    assert ctx.counters["pii_employee_id"] == 1 and "pii_ipv4" not in ctx.counters


def test_overlapping_types_are_redacted_once_by_priority() -> None:
    block = "-----BEGIN PRIVATE KEY-----\nMIIEvQ bob@example.com 8.8.8.8\n-----END PRIVATE KEY-----"
    out, ctx = run(PiiConfig(spans=True), frame([f"x {block} y"], None))
    assert out["text"][0] == "x <SECRET> y"
    assert out["pii_spans"][0].to_list() == [{"start": 2, "end": 2 + len(block), "type": "secret"}]
    assert ctx.counters["pii_email"] == 0 and ctx.counters["pii_ipv4"] == 0
    # custom types come last: an e-mail wins over a custom pattern that overlaps it
    out, _ = run(PiiConfig(types=["email"], custom={"user": r"[a-z]+@"}, spans=True), frame(["to bob@example.com"], None))
    assert out["text"][0] == "to <EMAIL>"


def test_context_vetoes_are_counted_not_redacted() -> None:
    text = "ISBN 030 12345678; for orders call Tel. 030 12345678"
    out, ctx = run(PiiConfig(types=["phone"], regions=["DE"]), frame([text], None))
    assert out["text"][0] == "ISBN 030 12345678; for orders call Tel. <PHONE>"
    assert ctx.counters["pii_vetoed_phone"] == 1 and ctx.counters["pii_phone"] == 1
    out, ctx = run(PiiConfig(types=["phone"], regions=["DE"], vetoes={"phone": []}), frame([text], None))
    assert out["text"][0] == "ISBN <PHONE>; for orders call Tel. <PHONE>"
    out, _ = run(PiiConfig(types=["ipv4"], vetoes={"ipv4": ["host"]}, veto_window=10), frame(["host 8.8.8.8, sha 8.8.4.4"], None))
    assert out["text"][0] == "host 8.8.8.8, sha <IPV4>"  # given types replace the defaults
    out, _ = run(PiiConfig(types=["phone", "ipv4"]), frame(["sorted by hash. Phone: +81 90-1259-3651", "SHA-1: 93.184.216.34"], None))
    assert out["text"].to_list() == ["sorted by hash. Phone: <PHONE>", "SHA-1: 93.184.216.34"]  # a veto word labels the value


def test_a_veto_word_counts_only_on_the_candidates_line() -> None:
    texts = [
        "(references pg_proc.oid)\n\nClient IP: 222.216.99.241",
        "keys(%hash).\nCC: 3589212868501432",
        "hash:\n3589212868501432",  # only punctuation between, but a line break
        "OID: 222.216.99.241",  # on its line: vetoed
        "hash: 3589212868501432",
    ]
    out, ctx = run(PiiConfig(types=["credit_card", "ipv4"]), frame(texts, None))
    assert out["text"].to_list() == [
        "(references pg_proc.oid)\n\nClient IP: <IPV4>",
        "keys(%hash).\nCC: <CREDIT_CARD>",
        "hash:\n<CREDIT_CARD>",
        "OID: 222.216.99.241",
        "hash: 3589212868501432",
    ]
    assert ctx.counters["pii_vetoed_ipv4"] == 1 and ctx.counters["pii_vetoed_credit_card"] == 1


def test_an_iban_is_never_read_as_a_card_or_a_phone() -> None:
    texts = [
        "IBAN: DE25 2414 2363 2794 1809 69",  # valid; 2414 2363 2794 1809 passes Luhn
        "IBAN: DE26 2414 2363 2794 1809 69",  # wrong check: no IBAN, and its digits are nothing else
        "IBAN: NL78 ABNA 0261 4007 83",  # wrong check; 0261 4007 83 is a valid Dutch number
        "Ref AB12 4111 1111 1111 1111",  # AB issues no IBANs: the card stands
    ]
    out, _ = run(PiiConfig(spans=True), frame(texts, None))
    found = [[(t[s["start"] : s["end"]], s["type"]) for s in spans] for t, spans in zip(texts, out["pii_spans"].to_list(), strict=True)]
    assert found == [
        [("DE25 2414 2363 2794 1809 69", "iban")],
        [],
        [],
        [("4111 1111 1111 1111", "credit_card")],
    ]


def test_phone_regions_from_lang_column_then_defaults() -> None:
    texts = ["Tel. 030 12345678", "Tel. 030 12345678", "Appelez le 01 23 45 67 89"]
    out, _ = run(PiiConfig(types=["phone"], default_regions=["US"]), frame(texts, ["de", None, "fr"]))
    assert out["pii_phone"].to_list() == [1, 0, 1]
    out, _ = run(PiiConfig(types=["phone"], regions=["US"]), frame(texts, ["de", None, "fr"]))
    assert out["pii_phone"].to_list() == [0, 0, 0]  # regions: exactly these, languages ignored
    out, _ = run(PiiConfig(types=["phone"], lang_column=None, default_regions=["US"]), frame(texts, ["de", None, "fr"]))
    assert out["pii_phone"].to_list() == [0, 0, 0]


def test_mask_keeps_length_and_separators_tag_only_keeps_text() -> None:
    out, _ = run(PiiConfig(default_policy="mask", types=["email", "phone", "credit_card"]), frame(TEXTS[:2], None))
    assert out["text"].to_list() == [
        "Mail ****.***@*******.*** or call +** ** **** ****.",
        "Card **** **** **** **** and IBAN DE89 3704 0044 0532 0130 00.",
    ]
    out, ctx = run(PiiConfig(default_policy="tag_only"))
    assert_frame_equal(out.select(frame().columns), frame())
    assert ctx.counters["pii_email"] == 2


def test_pseudonyms_are_keyed_stable_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = PiiConfig(default_policy="pseudonym", pseudonym_key_env=KEY_ENV, types=["email", "phone"])
    texts = ["a John.Doe@Example.com b", "c john.doe@example.com d", "e +44 20 7946 0958", "f +44 (0)20 7946-0958"]
    monkeypatch.setenv(KEY_ENV, KEY)
    one = run(cfg, frame(texts, None))[0]["text"].to_list()
    again = run(cfg, frame(texts[::-1], None))[0]["text"].to_list()[::-1]
    assert one == again  # stable across batches and runs
    assert one[0][2:-2] == one[1][2:-2]  # same normalised value, same pseudonym
    assert one[2][2:] == one[3][2:]  # phones normalised to E.164
    assert one[0].startswith("a <EMAIL_") and len(one[0]) == len("a <EMAIL_12345678> b")
    monkeypatch.setenv(KEY_ENV, "another key")
    other = run(cfg, frame(texts, None))[0]["text"].to_list()
    assert other[0] != one[0]  # another key, other pseudonyms


def test_pseudonym_key_is_checked_at_plan_time_and_never_pickled(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = PiiConfig(policy={"email": "pseudonym"}, pseudonym_key_env=KEY_ENV)
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV) as err:
        Pii(cfg)
    assert err.value.exit_code == 2
    monkeypatch.setenv(KEY_ENV, "")
    with pytest.raises(ConfigError):
        Pii(cfg)
    monkeypatch.setenv(KEY_ENV, KEY)
    stage = Pii(cfg)
    fp = json.dumps(stage.config_fingerprint())
    assert KEY not in fp and "pseudonym_key_id" in fp
    monkeypatch.setenv(KEY_ENV, KEY + "2")
    assert json.dumps(Pii(cfg).config_fingerprint()) != fp  # a new key recomputes on resume
    monkeypatch.setenv(KEY_ENV, KEY)
    stage.setup()
    assert KEY.encode() not in pickle.dumps(stage)
    Pii(PiiConfig())  # no pseudonym policy: no key needed


def test_drop_document_routes_to_rejected_with_the_types(tmp_path: Path) -> None:
    cfg = PiiConfig(policy={"email": "drop_document", "credit_card": "drop_document"})
    df = frame(TEXTS, None)
    counts: Counter[str] = Counter()
    rows, _ = run_stage_frames(Pii(cfg), [df.slice(0, 3), df.slice(3)], tmp_path / "work", counters=counts)
    rejected = rows.filter(pl.col(REJECT).is_not_null())
    assert sorted(rejected["id"].to_list()) == ["000", "001", "006"]
    assert set(rejected[REJECT]) == {"pii"}
    kept = rows.filter(pl.col(REJECT).is_null())
    assert kept.height == 5 and kept.filter(pl.col("id") == "002")["text"][0].startswith("Server <IPV4>")
    details = read_rejected(tmp_path / "work")
    assert dict(zip(details["id"], details["reject_detail"], strict=True)) == {"000": "email", "001": "credit_card", "006": "email"}
    dropped = details.filter(pl.col("id") == "000")["text"][0]
    assert dropped == "Mail john.doe@example.com or call <PHONE>."  # other types still redacted
    assert counts["pii_docs_email"] == 2 and counts["pii_docs_credit_card"] == 1


def test_earlier_rejection_is_kept() -> None:
    df = frame(TEXTS[:2], None).with_columns(pl.Series(REJECT, ["dup", None]), pl.Series(REJECT_DETAIL, ["of x", None]))
    out, _ = run(PiiConfig(policy={"credit_card": "drop_document"}), df)
    assert out[REJECT].to_list() == ["dup", "pii"]
    assert out[REJECT_DETAIL].to_list() == ["of x", "credit_card"]


def test_config_errors_name_the_problem() -> None:
    bad = [
        ({"types": ["email", "email"]}, "unique"),
        ({"types": ["mail"]}, "Input should be"),
        ({"types": [], "custom": {}}, "nothing to detect"),
        ({"policy": {"emial": "mask"}}, "not a detected type"),
        ({"policy": {"email": "redact"}}, "Input should be"),
        ({"custom": {"email": "x"}}, "reserved"),
        ({"custom": {"Bad Name": "x"}}, "lowercase"),
        ({"custom": {"x": "("}}, "invalid regular expression"),
        ({"custom": {"x": "a*"}}, "empty string"),
        ({"regions": ["XX"]}, "unknown region"),
        ({"regions": ["de"]}, "unknown region"),
        ({"pseudonym_key_env": "sk-live-abc$"}, "never the key itself"),
        ({"pseudonym_format": "<{TYPE}>"}, "{hash}"),
        ({"placeholder": "<{nope}>"}, "invalid format"),
        ({"mask_char": "**"}, "at most 1"),
        ({"entropy_threshold": 9}, "less than or equal"),
        ({"vetoes": {"iban": ["x"]}, "types": ["email"]}, "not a detected type"),
        ({"typo": 1}, "Extra inputs"),
    ]
    for values, message in bad:
        with pytest.raises(ValidationError, match=message):
            PiiConfig(**values)


def test_a_key_given_instead_of_a_variable_name_is_never_echoed(cli, tmp_path: Path) -> None:
    secret = "sk-live-Super$ecretValue123"
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": "a@example.com"}])
    cfg = {"input": {"paths": [str(src)]}, "stages": [{"kind": "pii", "pseudonym_key_env": secret}]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    result = cli("validate", tmp_path / "c.yaml")
    assert result.exit_code == 2
    assert "pseudonym_key_env: must be the name of the environment variable" in result.stderr
    assert secret not in result.stderr + result.output and "Super" not in result.stderr


def test_pickles_without_compiled_state() -> None:
    stage = Pii(PiiConfig())
    stage.setup()
    clone = pickle.loads(pickle.dumps(stage))
    out_a = stage.process(frame(), StageContext())
    out_b = clone.process(frame(), StageContext())
    assert_frame_equal(out_a, out_b)


# ---------------------------------------------------------------- properties

VALUES = {
    "email": ["ann@example.com", "bob.smith+x@mail.example.org"],
    "phone": ["+44 20 7946 0958", "+1 415-555-2671"],
    "ipv4": ["151.101.1.69", "93.184.216.34"],  # 8.8.8.8 (parts <= 31) needs an IP word next to it
    "credit_card": ["4111 1111 1111 1111", "378282246310005"],
    "iban": ["DE89 3704 0044 0532 0130 00", "GB29NWBK60161331926819"],
    "secret": ["AKIAIOSFODNN7EXAMPLE", "ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"],
}
FILLER = ["The", "report", "was", "sent", "über", "to", "version 1.2.3.4", "on 2024-01-15", "(c)", "192.168.1.1", "—", "ISBN 978-3-16-148410-0"]
PIECES = st.lists(
    st.one_of(st.sampled_from(FILLER), st.sampled_from([v for vals in VALUES.values() for v in vals])), max_size=12
).map(lambda words: " ".join(words) + ".")
DOCS = st.lists(st.one_of(st.none(), PIECES), min_size=0, max_size=12)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(DOCS, st.integers(0, 12))
def test_batch_invariant_with_pii(texts: list[str | None], cut: int) -> None:
    stage = Pii(PiiConfig(spans=True, policy={"phone": "drop_document", "ipv4": "mask"}))
    df = frame(texts, None)
    whole = stage.process(df, StageContext())
    parts = pl.concat([stage.process(df.slice(0, cut), StageContext()), stage.process(df.slice(cut), StageContext())])
    assert_frame_equal(whole, parts)


@SETTINGS
@given(DOCS)
def test_tag_only_keeps_text_placeholder_removes_every_value_counts_equal_spans(texts: list[str | None]) -> None:
    df = frame(texts, None)
    tagged, tctx = run(PiiConfig(default_policy="tag_only", spans=True), df)
    assert tagged["text"].to_list() == texts
    redacted, rctx = run(PiiConfig(spans=True), df)
    for original, text, spans in zip(texts, redacted["text"].to_list(), redacted["pii_spans"].to_list(), strict=True):
        if original is None:
            assert text is None and spans == []
            continue
        for s in spans:
            assert original[s["start"] : s["end"]] not in text
        starts = [s["start"] for s in spans]
        assert starts == sorted(starts)
        assert all(a["end"] <= b["start"] for a, b in zip(spans, spans[1:], strict=False))
    for t in VALUES:
        per_row = [sum(1 for s in spans if s["type"] == t) for spans in redacted["pii_spans"].to_list()]
        assert redacted[f"pii_{t}"].to_list() == per_row
        assert rctx.counters[f"pii_{t}"] == sum(per_row) == tctx.counters[f"pii_{t}"]
    # every planted value is found (the fillers hold no PII)
    for original, spans in zip(texts, tagged["pii_spans"].to_list(), strict=True):
        if original:
            expected = sum(original.count(v) for vals in VALUES.values() for v in vals)
            assert len(spans) == expected, (original, spans)


# ---------------------------------------------------------------- through the CLI


def test_cli_pii_conserves_documents_and_never_writes_the_key(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURATE_PII_KEY", KEY)
    records = [{"text": t, "n": i} for i, t in enumerate(TEXTS) if t]
    src = write_jsonl(tmp_path / "in" / "d.jsonl", records)
    out = tmp_path / "out"
    result = cli("pii", src, "-o", out, "--policy", "email=pseudonym", "--policy", "credit_card=drop_document",
                 "--types", "email,phone,credit_card,ipv4", "--regions", "DE,GB", "--spans", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    kept, rejected = read_dir(out), read_rejected(out)
    assert kept.height + rejected.height == len(records)
    assert rejected["reject_reason"].to_list() == ["pii"]
    assert {"pii_email", "pii_phone", "pii_credit_card", "pii_ipv4", "pii_spans"} <= set(kept.columns)
    assert "pii_iban" not in kept.columns
    assert any("<EMAIL_" in t for t in kept["text"].to_list())
    manifest = json.loads((out / "_manifest.json").read_text())
    counters = manifest["steps"][-1]["counts"]["counters"]
    assert counters["pii_email"] == 2 and counters["pii_docs_credit_card"] == 1
    # a pipeline run with a kept workdir and an export: the key is in no file
    cfg = {
        "input": {"paths": [str(src)]},
        "workdir": str(tmp_path / "work"),
        "output": {"path": str(tmp_path / "release")},
        "engine": {"workers": 1},
        "stages": [{"kind": "pii", "default_policy": "pseudonym", "spans": True}],
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    result = cli("run", tmp_path / "c.yaml", "-q")
    assert result.exit_code == 0, result.output
    files = [p for root in (tmp_path / "work", tmp_path / "release", out) for p in root.rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in result.output


def test_cli_pii_without_the_key_is_a_config_error(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CURATE_PII_KEY", raising=False)
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": "a@example.com"}])
    result = cli("pii", src, "-o", tmp_path / "o", "--default-policy", "pseudonym", "-q")
    assert result.exit_code == 2
    assert "CURATE_PII_KEY" in result.stderr and not (tmp_path / "o").exists()
    bad = cli("pii", src, "-o", tmp_path / "o", "--policy", "email", "-q")
    assert bad.exit_code == 2 and "TYPE=POLICY" in bad.stderr
    bad = cli("pii", src, "-o", tmp_path / "o", "--policy", "email=redact", "-q")
    assert bad.exit_code == 2 and "pii.policy.email" in bad.stderr


def test_huge_and_hostile_documents_finish() -> None:
    """Long runs of what the patterns look for (no timing asserted: pytest's timeout guards)."""
    texts = [
        " ".join("1234" for _ in range(10_000)),
        "-".join("12" for _ in range(20_000)),
        "@" * 50_000,
        ("a" * 60 + "@") * 800,
        "2001:" * 10_000,
        ("key=" + "A1b2" * 20 + " ") * 500,
        "-----BEGIN RSA PRIVATE KEY-----\n" * 2000,
        "eyJhbGciOiJIUzI1NiJ9." * 5000,
        "(" * 50_000 + "1" * 100,
        "é 030 12345678 " * 5000,
    ]
    out, ctx = run(PiiConfig(spans=True, regions=["DE"]), frame(texts, None))
    assert out.height == len(texts)
    assert out["pii_phone"][9] == 5000 and out["pii_secret"][6] == 1
    spans = out["pii_spans"][9].to_list()
    assert texts[9][spans[-1]["start"] : spans[-1]["end"]] == "030 12345678"  # code points, not bytes
