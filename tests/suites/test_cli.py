"""`sftbench build` and `sftbench ls` through the real CLI entry point."""

import json

import pytest
from sftbench.suites.engine.cli import main


@pytest.fixture
def pool_file(tmp_path):
    path = tmp_path / "pool.jsonl"
    rows = [{"instruction": f"q{i}", "input": "", "output": " ".join(["word"] * (i + 1))} for i in range(10)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_build_longest_from_a_pool_file(tmp_path, pool_file, capsys):
    out = tmp_path / "longest.jsonl"
    assert main(["build", "longest", "--pool", str(pool_file), "--k", "3", "--out", str(out)]) == 0
    assert [r["instruction"] for r in read(out)] == ["q7", "q8", "q9"]
    card = json.loads((tmp_path / "longest.jsonl.card.json").read_text())
    assert card["size"] == 3 and card["builder"] == "longest" and len(card["content_sha256"]) == 64
    assert "wrote 3 rows" in capsys.readouterr().out


def test_build_every_builder_on_the_world(tmp_path):
    for builder, extra in [("random", ["--k", "5"]), ("full", ["--k", "7"]), ("lima", ["--k", "4"]),
                           ("alpagasus", ["--k", "6"]), ("skillmix", ["--k", "3"])]:
        out = tmp_path / f"{builder}.jsonl"
        assert main(["build", builder, "--pool", "world", *extra, "--out", str(out)]) == 0, builder
        assert len(read(out)) == {"random": 5, "full": 7, "lima": 4, "alpagasus": 6, "skillmix": 3}[builder]


def test_build_errors_are_clear(tmp_path, pool_file, capsys):
    assert main(["build", "longst", "--pool", str(pool_file), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "Did you mean 'longest'" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "q", "output": "a"}\n{"instruction": "q2", "output": 3}\n')
    assert main(["build", "random", "--pool", str(bad), "--k", "1", "--out", str(tmp_path / "y.jsonl")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: field 'output' must be a non-empty string" in err
    assert not (tmp_path / "y.jsonl").exists()
    bad.write_text('{"instruction": "q", "output": "a"\n')
    assert main(["build", "random", "--pool", str(bad), "--out", str(tmp_path / "y.jsonl")]) == 2
    assert f"{bad}:1: not valid JSON" in capsys.readouterr().err


def test_ls_lists_builders_judges_and_suites(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    for name in ("random", "full", "longest", "alpagasus", "lima", "skillmix", "world", "quickstart"):
        assert name in out
