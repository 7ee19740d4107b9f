"""The judge-noise floor step's work (suites/noise_floor.py) with the world judge and with noisy fake judges."""

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from sftbench.datasets_builders import world
from sftbench.judges.pairwise import annotate_pairs
from sftbench.suites.evaluations.alpaca_eval.noise_floor import (
    pairwise_noise_floor,
    summarize,
)


@pytest.fixture(scope="module")
def judged():
    prompts = world.make_eval_prompts(24, seed=5)
    baseline = [r["output"] for r in world.reference_outputs(prompts)]
    sets = {}
    for kind in ("verbose", "concise"):
        outputs = [r["output"] for r in world.gamed_outputs(prompts, kind)]
        sets[f"judge-{kind}-s0-abc"] = annotate_pairs(prompts, baseline, outputs, world.WorldVerifierJudge(),
                                                      generator=kind, baseline_name="world_reference",
                                                      annotator="world-verifier")
    return prompts, sets


class NoisyJudge:
    """The world judge plus Gaussian noise: a judge that samples."""

    def __init__(self, sd: float, seed: int = 0) -> None:
        self.inner, self.sd, self.rng = world.WorldVerifierJudge(), sd, np.random.default_rng(seed)

    @property
    def fingerprint(self):
        return {**self.inner.fingerprint, "noise": self.sd}

    def prefer(self, prompt, output_1, output_2):
        return float(np.clip(self.inner.prefer(prompt, output_1, output_2) + self.rng.normal(0, self.sd), 1, 2))


class FirstPositionJudge:
    """Deterministic, but prefers whichever answer it is shown first: re-judging must keep the original order."""
    fingerprint = {"provider": "fake", "model": "first"}

    def prefer(self, prompt, output_1, output_2):
        return 1.2 if len(output_1) % 3 else 1.7


def test_the_deterministic_world_judge_has_a_floor_of_zero(judged, tmp_path):
    prompts, sets = judged
    summary = pairwise_noise_floor(prompts, sets, world.WorldVerifierJudge(), 20, 0, tmp_path)
    assert summary["n"] == 20 and summary["deterministic"] is True
    assert summary["sd_delta"] == 0 and summary["flip_rate"] == 0 and summary["mean_abs_delta"] == 0
    doc = json.loads((tmp_path / "noise_floor.json").read_text())
    assert doc["judge_steps"] == sorted(sets) and len(doc["examples"]) == 20
    assert {e["judge_step"] for e in doc["examples"]} <= set(sets)


def test_a_sampling_judge_has_a_measured_floor(judged, tmp_path):
    prompts, sets = judged
    summary = pairwise_noise_floor(prompts, sets, NoisyJudge(0.1), 40, 0, tmp_path)
    assert summary["deterministic"] is False
    # clipping at [1, 2] trims the noise a little: sd of one re-judging change ~ 0.1 (original was noise-free)
    assert 0.05 < summary["sd_delta"] < 0.12


def test_sample_is_fixed_by_the_seed_and_order_is_preserved(judged, tmp_path):
    prompts, sets = judged
    a = pairwise_noise_floor(prompts, sets, FirstPositionJudge(), 10, 7, tmp_path / "a")
    b = pairwise_noise_floor(prompts, sets, FirstPositionJudge(), 10, 7, tmp_path / "b")
    ex_a = json.loads((tmp_path / "a" / "noise_floor.json").read_text())["examples"]
    ex_b = json.loads((tmp_path / "b" / "noise_floor.json").read_text())["examples"]
    assert [(e["judge_step"], e["index"]) for e in ex_a] == [(e["judge_step"], e["index"]) for e in ex_b]
    assert a["n"] == b["n"] == 10


def test_swapped_pairs_are_shown_as_they_were_first_judged(tmp_path):
    prompts = [{"instruction": f"p{i}"} for i in range(12)]
    baseline, outputs = [f"base {i}" * (i + 1) for i in range(12)], [f"out {i}" for i in range(12)]
    anns = annotate_pairs(prompts, baseline, outputs, FirstPositionJudge(), generator="m", baseline_name="b",
                          annotator="first", randomize_order=True)
    assert any(a["swapped"] for a in anns) and not all(a["swapped"] for a in anns)
    summary = pairwise_noise_floor(prompts, {"judge-m": anns}, FirstPositionJudge(), 12, 0, tmp_path)
    assert summary["deterministic"] is True


def test_failed_annotations_are_not_sampled_and_failed_rejudgings_are_counted(judged, tmp_path):
    prompts, sets = judged
    sets = {k: [dict(a, failed=(i % 2 == 0)) for i, a in enumerate(v)] for k, v in sets.items()}

    class Flaky(NoisyJudge):
        def prefer(self, prompt, output_1, output_2):
            return math.nan if self.rng.random() < 0.5 else super().prefer(prompt, output_1, output_2)

    summary = pairwise_noise_floor(prompts, sets, Flaky(0.0), 100, 0, tmp_path)
    doc = json.loads((tmp_path / "noise_floor.json").read_text())
    assert all(e["index"] % 2 == 1 for e in doc["examples"]) and len(doc["examples"]) == 24
    assert summary["n_failed"] > 0 and summary["n"] + summary["n_failed"] == 24


def test_refuses_a_judge_that_answers_from_the_response_cache(judged, tmp_path):
    prompts, sets = judged
    cached = SimpleNamespace(client=SimpleNamespace(cache=object()), fingerprint={}, prefer=lambda *a: 1.5)
    with pytest.raises(ValueError, match="cache"):
        pairwise_noise_floor(prompts, sets, cached, 5, 0, tmp_path)
    with pytest.raises(ValueError, match="annotations for"):
        pairwise_noise_floor(prompts[:3], sets, world.WorldVerifierJudge(), 5, 0, tmp_path)


def test_summary_statistics():
    s = summarize([1.2, 1.8, 1.5, 1.9], [1.3, 1.6, 1.5, 1.2])
    assert s["n"] == 4 and s["flip_rate"] == pytest.approx(0.25)  # 1.9 -> 1.2 flips; 1.5 -> 1.5 stays a tie
    assert s["mean_abs_delta"] == pytest.approx((0.1 + 0.2 + 0 + 0.7) / 4)
    assert s["sd_delta"] == pytest.approx(np.std([0.1, -0.2, 0.0, -0.7], ddof=1))
    assert summarize([], [])["n"] == 0


def test_deterministic_after_the_judge_steps_json_round_trip(judged, tmp_path):
    """judge steps store annotations with pandas' to_json (10 significant digits): still a floor of exactly 0."""
    import pandas as pd
    prompts, sets = judged
    stored = {k: json.loads(pd.DataFrame(v).to_json(orient="records")) for k, v in sets.items()}
    assert pairwise_noise_floor(prompts, stored, world.WorldVerifierJudge(), 30, 1, tmp_path)["deterministic"] is True
