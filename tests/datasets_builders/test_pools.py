"""Pool loaders: every layout and file type, each relevant file of ../shared/data, corrupted copies rejected."""

from __future__ import annotations

import gzip
import json

import pytest
from sftbench.datasets_builders.formats import load_rows
from sftbench.datasets_builders.pools import HUB_SOURCES, load_pool, pool_from_arg

from sftbench.common.rows import RowError
from tests.conftest import shared_data
from tests.datasets_builders.conftest import corrupt_copy

# pool source -> (file in ../shared/data, rows after validation, rows left out as empty, content sha256 prefix)
SHARED = {
    "alpaca": [("alpagasus_gpt4life/data/random/random_9k.json.gz", 9225, 4, "dbb217523fb7"),
               ("alpagasus_gpt4life/data/filtered/claude_t45.json.gz", 5301, 4, "726de12839a5"),
               ("alpagasus_gpt4life/data/filtered/helpfulness_t45.json.gz", 2021, 1, "617fdaa4ff38"),
               ("alpagasus_gpt4life/data/filtered/dolly_3k.json.gz", 2996, 0, "cb8d16e85ec2"),
               ("long_is_more/data/alpaca/filtered_alpaca_1k_longest.json.gz", 1000, 0, "864909469b33"),
               ("long_is_more/data/alpaca/refined_alpaca_1k_longest.json.gz", 1000, 0, "f0645ce19c2b"),
               ("long_is_more/data/alpaca/filtered_alpaca_1k_score.json", 1000, 0, "4c49fae4bba9")],
    "evol_instruct_70k": [("long_is_more/data/evol-instruct/filtered_evol_instruct_1k_score.json.gz", 1000, 0,
                           "4a3c21ff87a5")],
    "lima": [("long_is_more/data/lima/fastchat_lima_1k.json.gz", 1000, 0, "c961526b2949")],
    "ism_sda": [("instruct_skillmix/datasets/ism_sda_k2_1000.json.gz", 1000, 0, "1c4be594ef2c"),
                ("instruct_skillmix/datasets/ism_sda_heldout_k2_100.json", 100, 0, "0606abd976e3")],
}


@pytest.mark.parametrize("source,relative,rows,empty,sha", [(s, *f) for s, files in SHARED.items() for f in files])
def test_each_loader_reads_each_relevant_shared_file(source, relative, rows, empty, sha):
    pool = load_pool(source, shared_data(relative))
    assert len(pool.rows) == rows and pool.info["dropped_empty_rows"] == empty
    assert pool.info["sha256"].startswith(sha) and pool.info["repo_id"] == HUB_SOURCES[source].repo_id
    assert all(r["instruction"].strip() and r["output"].strip() for r in pool.rows)


def test_fastchat_alpaca_prompts_are_unwrapped_and_extras_kept():
    rows = load_rows(shared_data("long_is_more/data/alpaca/filtered_alpaca_1k_longest.json.gz")).rows
    assert not any(r["instruction"].startswith("Below is an instruction") for r in rows)
    assert sum(bool(r["input"]) for r in rows) > 0 and rows[0]["id"] == "identity_7"
    assert rows[0]["meta"]["score"] == 3.5
    ism = load_rows(shared_data("instruct_skillmix/datasets/ism_sda_k2_1000.json.gz")).rows
    assert ism[0]["meta"]["skills_joined_str"] == "patina_application, historical_linguistics_research"


@pytest.mark.parametrize("relative,old,new,message", [
    ("alpagasus_gpt4life/data/random/random_9k.json.gz", b'"output": "', b'"outptu": "',
     r"random_9k\.json:1: field 'output' must be a non-empty string \(got None\)"),
    ("long_is_more/data/alpaca/filtered_alpaca_1k_longest.json.gz", b'"from": "gpt"', b'"from": "robot"',
     r"filtered_alpaca_1k_longest\.json:1: field 'conversations\[1\]\.from' must name a speaker"),
    ("long_is_more/data/lima/fastchat_lima_1k.json.gz", b'"value": "', b'"value": 7, "x": "',
     r"fastchat_lima_1k\.json:1: field 'conversations\[0\]\.value' must be a string \(got 7\)"),
    ("instruct_skillmix/datasets/ism_sda_heldout_k2_100.json", b'"instruction": "', b'"instruction": ["',
     r"ism_sda_heldout_k2_100\.json: not valid JSON at line 5, column 12 \(Expecting ',' delimiter\)"),
    ("long_is_more/data/evol-instruct/filtered_evol_instruct_1k_score.json.gz", b'"from": "human"', b'"from": "gpt"',
     r"filtered_evol_instruct_1k_score\.json:1: field 'conversations\[0\]' should be a user turn"),
])
def test_a_corrupted_copy_is_rejected_naming_file_row_and_field(tmp_path, relative, old, new, message):
    src = shared_data(relative)
    bad = corrupt_copy(src, tmp_path / src.name.removesuffix(".gz"), old, new)
    with pytest.raises(RowError, match=message):
        load_rows(bad)


def test_bad_rows_can_be_skipped_and_are_counted(tmp_path):
    src = shared_data("long_is_more/data/alpaca/filtered_alpaca_1k_score.json")
    bad = corrupt_copy(src, tmp_path / "score.json", b'"from": "gpt"', b'"from": "robot"')
    pool = load_pool("alpaca", bad, skip_bad_rows=True)
    assert len(pool.rows) == 999 and pool.info["skipped_bad_rows"] == 1
    assert "score.json:1: field 'conversations[1].from'" in pool.info["skipped_examples"][0]


def test_truncated_gzip_and_parquet_are_rejected(tmp_path):
    src = shared_data("long_is_more/data/lima/fastchat_lima_1k.json.gz")
    cut = tmp_path / "lima.json.gz"
    cut.write_bytes(src.read_bytes()[:5000])
    with pytest.raises(RowError, match=r"lima\.json\.gz: not a readable gzip file"):
        load_rows(cut)
    broken = tmp_path / "x.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(RowError, match=r"x\.parquet: not a readable parquet file"):
        load_rows(broken)


def test_every_layout_and_file_type(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    records = [{"instruction": "a", "input": "", "output": "b"},
               {"conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "r1"},
                                  {"from": "human", "value": "q2"}, {"from": "gpt", "value": "r2"}]},
               {"conversations": ["lima q", "lima r"], "source": "stackexchange"},
               {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                             {"role": "assistant", "content": "hello"}]}]
    (tmp_path / "a.json").write_text(json.dumps(records))
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (tmp_path / "b.json").write_text("\n".join(json.dumps(r) for r in records))  # JSON lines named .json
    with gzip.open(tmp_path / "a.jsonl.gz", "wt") as fh:
        fh.write((tmp_path / "a.jsonl").read_text())
    pq.write_table(pa.Table.from_pylist([records[0], {"instruction": "c", "input": "d", "output": "e"}]),
                   tmp_path / "a.parquet")
    for name in ("a.json", "a.jsonl", "b.json", "a.jsonl.gz"):
        rows = load_rows(tmp_path / name).rows
        assert [r["output"] for r in rows] == ["b", "r1", "lima r", "hello"], name
        assert [m["content"] for m in rows[1]["messages"]] == ["q1", "r1", "q2", "r2"]
        assert rows[2]["meta"] == {"source": "stackexchange"} and "messages" not in rows[2]
        assert rows[3]["messages"][0] == {"role": "system", "content": "be brief"}
    assert [r["input"] for r in load_rows(tmp_path / "a.parquet").rows] == ["", "d"]
    assert len(pool_from_arg(str(tmp_path / "a.json")).rows) == 4
    assert len(pool_from_arg(f"lima={tmp_path / 'a.json'}").rows) == 4


def test_hub_source_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="could not fetch tatsu-lab/alpaca.*give it as the pool's `path`"):
        load_pool("alpaca", cache_dir=tmp_path / "hub")
    with pytest.raises(ValueError, match="unknown pool source 'alpacca'. Did you mean 'alpaca'"):
        load_pool("alpacca")


def test_the_github_pinned_skillmix_release_downloads_verifies_and_caches(mirror, monkeypatch):
    from sftbench.datasets_builders.pools import GITHUB_SOURCES
    gh = GITHUB_SOURCES["ism_sda_1k"]
    served = mirror / gh.repo / gh.commit / gh.file
    served.parent.mkdir(parents=True)
    with gzip.open(shared_data("instruct_skillmix/datasets/ism_sda_k2_1000.json.gz"), "rb") as f:
        served.write_bytes(f.read())
    pool = load_pool("ism_sda_1k")
    assert len(pool.rows) == 1000 and pool.info["from"] == "github" and pool.info["revision"] == gh.commit
    assert pool.info["sha256"] == gh.sha256 and pool.info["url"].endswith(f"{gh.commit}/{gh.file}")
    served.unlink()  # served from the cache from now on, also offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_pool("ism_sda_1k").rows == pool.rows
    held = load_pool("ism_sda_heldout", shared_data("instruct_skillmix/datasets/ism_sda_heldout_k2_100.json"))
    assert len(held.rows) == 100 and held.info["from"] == "local copy"


def test_a_github_pinned_release_rejects_another_version(tmp_path):
    copy = tmp_path / "ism_sda_heldout_k2_100.json"
    rows = json.loads(shared_data("instruct_skillmix/datasets/ism_sda_heldout_k2_100.json").read_text())
    copy.write_text(json.dumps(rows[:99]))  # one row short: valid JSON, valid rows, not the release
    with pytest.raises(ValueError, match=r"ism_sda_heldout_k2_100\.json: sha256 of its content is [0-9a-f]{64}, "
                                         r"not the released 0606abd9"):
        load_pool("ism_sda_heldout", copy)
    with pytest.raises(ValueError, match="did you mean 'ism_sda_1k'|Did you mean 'ism_sda_1k'"):
        load_pool("ism_sda_1", None)
