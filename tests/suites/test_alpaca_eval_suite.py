"""AlpacaEval 2.0 from a suite: the real eval set (first 20 of the 805 instructions, gpt4_1106_preview baseline)
and the derived df_gamed from ../shared/data, the checkpoints' answers, alpaca_eval's weighted_alpaca_eval_gpt4_turbo
annotator over an OpenAI-compatible judge (a real loopback server answering with logprobs), and the leaderboard's
AlpacaEval 2.0 table with CIs, paired comparisons and a noise floor measured by real (uncached) re-judging."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from sftbench.judges.llm.loopback.server import LoopbackServer
from sftbench.suites.engine.cli import main

from tests.conftest import shared_data

TINY = str(Path(__file__).resolve().parents[1] / "assets" / "tiny_suite.yaml")
N = 20


def logprob_judge(messages, body):
    """P(model better) from the lengths shown: the longer output gets P = 0.7."""
    text = messages[-1]["content"]
    first, second = (part.split('"""')[0] for part in text.split('"output": """')[1:3])
    p_second = 0.7 if len(second) > len(first) else 0.3
    return {"text": "M", "top_logprobs": [("M", math.log(p_second)), ("m", math.log(1 - p_second))]}


def _args(tmp_path: Path, server: LoopbackServer) -> list[str]:
    data = shared_data("alpaca_eval")
    judge = ("roles.judge={provider: openai_compatible, params: {model: loop-judge, base_url: '%s'}}"
             % server.base_url)
    ae = ("evaluation.alpaca_eval={eval_set: alpaca_eval_2, max_instances: %d, data_path: '%s', df_gamed: '%s'}"
          % (N, data / "results/gpt4_1106_preview/model_outputs.json.gz", data / "derived/df_gamed.csv"))
    return ["run", TINY, "--runs-dir", str(tmp_path), "--quiet", "--set", judge, "--set", ae,
            "--set", "datasets=[{name: random, builder: random, params: {k: 40}}, "
                     "{name: longest, builder: longest, params: {k: 40}}]",
            "--set", "leaderboard.noise_floor_sample=8", "--set", "leaderboard.n_bootstrap_lc=4"]


@pytest.mark.slow
def test_alpaca_eval_2_runs_from_a_suite_and_reaches_the_leaderboard(tmp_path, capsys):
    with LoopbackServer(responder=logprob_judge) as server:
        assert main(_args(tmp_path, server)) == 0
        calls = server.requests
        root = tmp_path / "tiny"
        assert not list(root.glob("lctable-*")) and not list(root.glob("judge-*"))  # no world judging
        data_dir = next(root.glob("aedata-*"))
        rows = [json.loads(line) for line in (data_dir / "eval_set.jsonl").open()]
        assert len(rows) == N and rows[0]["generator"] == "gpt4_1106_preview"
        gamed = pd.read_csv(data_dir / "df_gamed.csv")
        assert sorted(gamed["index"].unique()) == list(range(N))
        pairs, annotations = set(), {}
        for step in root.glob("aejudge-*"):
            ann = annotations[step.name] = json.loads((step / "annotations.json").read_text())
            pairs |= {(a["instruction"], a["output_2"]) for a in ann}
            assert len(ann) == N and {a["annotator"] for a in ann} == {"weighted_alpaca_eval_gpt4_turbo"}
            # the judge prefers the longer answer with P = 0.7; output order was randomised and mapped back
            longer = [len(a["output_2"]) > len(a["output_1"]) for a in ann]
            assert [a["preference"] for a in ann] == pytest.approx([1.7 if lg else 1.3 for lg in longer])
            assert {a["is_switched_outputs"] for a in ann} == {True, False}
            manifest = json.loads((step / "manifest.json").read_text())
            assert manifest["judge_fingerprint"]["annotator"] == "weighted_alpaca_eval_gpt4_turbo"
        noise = json.loads(next(root.glob("noisefloor-*/noise_floor.json")).read_text())
        assert noise["n"] == 8 and noise["deterministic"] is True
        rejudged = {(annotations[e["judge_step"]][e["index"]]["instruction"],
                     annotations[e["judge_step"]][e["index"]]["output_2"]) for e in noise["examples"]}
        # every distinct pair judged once (the response cache serves repeats), and the noise floor's sample
        # re-judged for real (uncached; identical requests in flight together are sent once)
        assert calls == len(pairs) + len(rejudged)

        board = json.loads((root / "leaderboard.json").read_text())
        rows = board["leaderboard"]
        assert len(rows) == 2
        for r in rows:
            assert r["alpaca_eval_2.baseline"] == "gpt4_1106_preview" and r["alpaca_eval_2.n_units"] == N
            assert r["alpaca_eval_2.win_rate_ci_low"] <= r["alpaca_eval_2.win_rate"] <= r["alpaca_eval_2.win_rate_ci_high"]
            assert r["alpaca_eval_2.lc_win_rate"] is not None
        assert "AlpacaEval 2.0: LC win rate" in (root / "leaderboard.md").read_text()

        capsys.readouterr()
        assert main(_args(tmp_path, server)) == 0  # everything cached: no new judge call
        assert server.requests == calls


def test_alpaca_eval_2_needs_an_llm_judge_and_a_known_annotator(capsys):
    assert main(["validate", TINY, "--set", "evaluation.alpaca_eval.eval_set=alpaca_eval_2"]) == 2
    assert "'alpaca_eval_2' needs an LLM judge" in capsys.readouterr().err
    assert main(["validate", TINY, "--set", "evaluation.alpaca_eval.annotator=weighted_alpaca_eval_gpt4_turb"]) == 2
    assert "Did you mean 'weighted_alpaca_eval_gpt4_turbo'" in capsys.readouterr().err
    assert main(["validate", TINY, "--set", "evaluation.alpaca_eval.enabled=false"]) == 2
    assert "evaluation.alpaca_eval.enabled: cannot be turned off" in capsys.readouterr().err


def test_a_missing_local_eval_set_is_a_clear_error_before_any_step(tmp_path, capsys):
    judge = "roles.judge={provider: openai_compatible, params: {model: j, base_url: 'http://127.0.0.1:9'}}"
    missing = tmp_path / "nope.json"
    code = main(["run", TINY, "--runs-dir", str(tmp_path), "--quiet", "--set", judge,
                 "--set", f"evaluation.alpaca_eval={{eval_set: alpaca_eval_2, data_path: '{missing}'}}"])
    assert code == 2
    err = capsys.readouterr().err
    assert "evaluation.alpaca_eval.data_path" in err and str(missing) in err
    assert not (tmp_path / "tiny").exists() or not list((tmp_path / "tiny").glob("*-*/manifest.json"))


def test_plan_estimates_the_judge_calls_of_every_evaluation(tmp_path):
    from sftbench.suites.engine.cost_estimate import pending_calls
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite
    data = shared_data("alpaca_eval")
    judge = {"provider": "openai_compatible", "params": {"model": "j", "base_url": "http://127.0.0.1:9/v1"}}
    suite = load_suite(TINY, {
        "roles.judge": judge, "leaderboard.noise_floor_sample": 8,
        "datasets": [{"name": "random", "builder": "random", "params": {"k": 40}},
                     {"name": "longest", "builder": "longest", "params": {"k": 40}}],
        "evaluation.alpaca_eval": {"eval_set": "alpaca_eval_2", "max_instances": N,
                                   "data_path": str(data / "results/gpt4_1106_preview/model_outputs.json.gz"),
                                   "df_gamed": str(data / "derived/df_gamed.csv")},
        "evaluation.mt_bench": {"enabled": True}})
    plan = make_plan(suite, tmp_path, progress=False)
    kinds = [s.key.kind for s in plan.steps]
    assert kinds.count("aedata") == 1 and kinds.count("aejudge") == 2 and "lctable" not in kinds
    # 2 checkpoints x (20 AlpacaEval prompts + 160 MT-Bench turns) + 8 re-judgments for each noise floor (AlpacaEval's,
    # MT-Bench's)
    assert kinds.count("noisefloor") == kinds.count("mtnoisefloor") == 1
    assert pending_calls(plan)["judge"] == 2 * (N + 160) + 2 * 8
