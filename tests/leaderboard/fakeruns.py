"""Small fake suite run directories in the runner's real format (no training): results.json (the contract between
the runner and the leaderboard) with AlpacaEval-style per-prompt preferences, LC win rates from the real LC GLM, a
length-control table and optionally a judge-noise floor; suite.resolved.yaml. Deterministic for a given spec."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sftbench.judges.length_control import build_df_gamed, lc_winrate
from sftbench.leaderboard.results import Evaluated, ResultsTable, Run
from sftbench.suites.evaluations.alpaca_eval.plugin import COLUMNS

JUDGE = {"provider": "world", "model": "world-verifier", "version": "1", "length_bias": 0.15}
RECIPE = {"epochs": 1.0, "lr": 0.002, "batch_size": 16, "seed": 0}


@dataclass
class DatasetSpec:
    name: str
    quality: float       # shift of the model's preference (in [-1, 1] preference units)
    length: int          # typical output length in characters
    builder: str = ""
    untuned: bool = False  # the untuned base model's row (evaluation.include_base): one checkpoint, seed 0
    build_usd: float | None = None  # the LLM $ of building it (None: no priced LLM)


def _h(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def _annotations(instructions: list[str], baseline: list[str], outputs: list[str], pref: np.ndarray,
                 generator: str) -> list[dict[str, Any]]:
    return [{"instruction": ins, "output_1": b, "generator_1": "world_reference", "output_2": o,
             "generator_2": generator, "dataset": "world", "annotator": "world-verifier", "preference": float(p),
             "swapped": bool(i % 2), "failed": False}
            for i, (ins, b, o, p) in enumerate(zip(instructions, baseline, outputs, pref))]


def write_suite(root: Path, datasets: list[DatasetSpec], seeds: tuple[int, ...] = (0,), n_prompts: int = 16,
                suite: str = "fake", seed: int = 0, noise_sd: float | None = None, judge: dict | None = None,
                leaderboard: dict[str, Any] | None = None, prompt_prefix: str = "Task",
                mt_bench: dict[str, float] | None = None) -> Path:
    """`mt_bench`: dataset -> shift of its MT-Bench ratings (1-10, 80 questions x 2 turns), to add that evaluation."""
    """Write runs/<suite>/ (results.json in the runner's schema, suite.resolved.yaml) under `root`; returns it."""
    judge = judge or JUDGE
    out = root / suite
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    # the eval set (difficulty, length anchor) depends on the prompts only, as it would for one judge and eval set
    eval_rng = np.random.default_rng(int(hashlib.sha256(f"{prompt_prefix}:{n_prompts}".encode()).hexdigest()[:8], 16))
    instructions = [f"{prompt_prefix} {i}: answer briefly." for i in range(n_prompts)]
    baseline = [f"Reference answer {i} " + "r" * int(20 + 25 * (i % 5)) for i in range(n_prompts)]
    difficulty = eval_rng.normal(0, 0.15, n_prompts)
    gamed = {}
    for kind, extra in (("verbose", 120), ("concise", -25)):
        outs = [b[: max(5, len(b) + extra)] if extra < 0 else b + " more" * (extra // 5) for b in baseline]
        pref = np.clip(1.5 + 0.15 * np.tanh(extra / 60) - difficulty + eval_rng.normal(0, 0.05, n_prompts), 1, 2)
        gamed[f"world_reference_{kind}"] = pd.DataFrame(_annotations(instructions, baseline, outs, pref, kind))
    df_gamed = build_df_gamed(gamed)
    gamed_csv = df_gamed.to_csv(index=False)
    (out / ".df_gamed.csv").write_text(gamed_csv)
    anchor = hashlib.sha256(gamed_csv.encode()).hexdigest()[:12]
    units = [f"{i}:{hashlib.sha256(ins.encode()).hexdigest()[:10]}" for i, ins in enumerate(instructions)]
    table = ResultsTable(suite, [], {anchor: pd.read_csv(out / ".df_gamed.csv")})
    base = _h("pretrain", "tiny-llama", {"model": {"layers": 2}}, {"world": "w0"})
    annotations: dict[str, list[dict[str, Any]]] = {}
    for ds in datasets:
        card = {"builder": ds.builder or ds.name, "size": 100, "content_sha256": _h("card", ds.name) * 5,
                "response_length": {"mean_words": ds.length / 5}}
        for s in (0,) if ds.untuned else seeds:
            run = f"{ds.name}-s{s}"
            seed_effect = rng.normal(0, 0.03)
            lengths = np.maximum(5, rng.normal(ds.length, ds.length * 0.6, n_prompts)).astype(int)
            outputs = [f"Answer {i} " + "x" * int(n) for i, n in enumerate(lengths)]
            pref = np.clip(1.5 + ds.quality + seed_effect - difficulty + 0.1 * np.tanh((lengths - 45) / 100)
                           + rng.normal(0, 0.2, n_prompts), 1, 2)
            ann = _annotations(instructions, baseline, outputs, pref, run)
            metrics: dict[str, Any] = lc_winrate(pd.DataFrame(ann).drop(columns=["swapped", "failed"]),
                                                 out / ".df_gamed.csv")
            judge_step = f"judge-{run}-{_h('judge', run, seed)}"
            annotations[judge_step] = ann
            p = [float(a["preference"]) - 1.0 for a in ann]
            ev = Evaluated("alpaca_eval", "AlpacaEval (world eval prompts)", judge, "prompt", units,
                           {"preference": p, "delta_len": [float(len(a["output_1"]) - len(a["output_2"])) for a in ann]},
                           {"win_rate": sum(p) / len(p) * 100, "lc_win_rate": float(metrics["length_controlled_winrate"]),
                            "avg_output_chars": float(np.mean([len(o) for o in outputs])),
                            "n_prompts": float(n_prompts), "n_failed": 0.0}, COLUMNS,
                           {"baseline": "world_reference", "anchor": anchor, "glm": "length_controlled_v1"},
                           {"judge": judge_step})
            evaluations = {"alpaca_eval": ev}
            if mt_bench is not None:
                evaluations["mt_bench"] = mt_bench_run(rng, mt_bench.get(ds.name, 0.0), judge)
            table.runs.append(Run(ds.name, s, f"tiny-llama@{base}", evaluations,
                                  {"builder": card["builder"], "size": card["size"],
                                   "train_resp_words": card["response_length"]["mean_words"],
                                   "build_usd": ds.build_usd, "train_hours": 0.0 if ds.untuned else 0.02,
                                   "train_gpu_hours": 0.0, "eval_usd": None},
                                  {"card_sha256": card["content_sha256"], "builder": card["builder"],
                                   "recipe": {**RECIPE, "seed": s}, "recipe_sha": _h("recipe", RECIPE),
                                   "template": "chatml", "base_model": {"name": "tiny-llama", "revision": base},
                                   "steps": {"train": f"train-{run}-{_h('train', run)}"},
                                   **({"untuned": True} if ds.untuned else {})}))
    (out / ".df_gamed.csv").unlink()
    if noise_sd is not None:
        picks = sorted(annotations)[:2]
        original = [a["preference"] for step in picks for a in annotations[step][:6]]
        again = np.clip(np.array(original) + rng.normal(0, noise_sd, len(original)), 1, 2) if noise_sd else original
        from sftbench.suites.evaluations.alpaca_eval.noise_floor import summarize
        table.noise_floors["alpaca_eval"] = {"judge": judge, "judge_steps": picks, "sample_size": 12, "seed": 0,
                                             "n_failed": 0, **summarize(original, list(again)),
                                             "step": "noisefloor-judge-0"}
    (out / "results.json").write_text(json.dumps(table.to_json(), indent=1))
    import yaml
    (out / "suite.resolved.yaml").write_text(yaml.safe_dump({"name": suite, "leaderboard": leaderboard or {}}))
    return out


def pairwise_run(dataset: str, seed: int, preference: np.ndarray, base_model: str = "base", lc: float = 0.0,
                 judge: dict | None = None, units: list[str] | None = None, anchor: str | None = None) -> Run:
    """A run judged AlpacaEval-style: per-prompt P(model beats baseline) in [0, 1]."""
    p = [float(x) for x in preference]
    units = units or [f"{i}" for i in range(len(p))]
    ev = Evaluated("alpaca_eval", "AlpacaEval", judge or JUDGE, "prompt", units,
                   {"preference": p, "delta_len": [0.0] * len(p)},
                   {"win_rate": float(np.mean(p) * 100), "lc_win_rate": lc, "avg_output_chars": 100.0}, COLUMNS,
                   {"baseline": "world_reference", "anchor": anchor})
    return Run(dataset, seed, base_model, {"alpaca_eval": ev})


MT_QUESTIONS = 80


def mt_bench_run(rng: np.random.Generator, shift: float, judge: dict) -> Evaluated:
    """One checkpoint's MT-Bench grades: a question effect shared by every run, the dataset's shift, judge noise."""
    from sftbench.suites.evaluations.mt_bench.plugin import COLUMNS as MT_COLUMNS
    question = np.random.default_rng(1234).normal(0, 1.2, MT_QUESTIONS * 2)  # the same questions for every run
    scores = np.clip(np.round(6 + question + shift + rng.normal(0, 1.0, MT_QUESTIONS * 2)), 1, 10)
    units = [f"{q}:{t}" for q in range(81, 81 + MT_QUESTIONS) for t in (1, 2)]
    return Evaluated("mt_bench", "MT-Bench", judge, "question_turn", units, {"score": [float(x) for x in scores]},
                     {"score": float(scores.mean()), "n_unparsed": 0.0}, MT_COLUMNS)
