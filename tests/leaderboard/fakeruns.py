"""Small fake suite run directories in the runner's real format (no training): results.json, judge steps with
AlpacaEval annotations, metrics from the real LC GLM, a df_gamed table, train/generate/pretrain/build manifests,
suite.resolved.yaml and optionally a noise-floor step. Deterministic for a given spec."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sftbench.judges.length_control import build_df_gamed, lc_winrate

JUDGE = {"provider": "world", "model": "world-verifier", "version": "1", "length_bias": 0.15}
RECIPE = {"epochs": 1.0, "lr": 0.002, "batch_size": 16, "seed": 0}


@dataclass
class DatasetSpec:
    name: str
    quality: float       # shift of the model's preference (in [-1, 1] preference units)
    length: int          # typical output length in characters
    builder: str = ""


def _h(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]


def _step(root: Path, kind: str, name: str, manifest: dict[str, Any], files: dict[str, Any] | None = None) -> str:
    digest = _h(kind, name, manifest.get("config"), manifest.get("inputs"))
    path = root / f"{kind}-{name}-{digest}"
    path.mkdir(parents=True)
    for fname, content in (files or {}).items():
        (path / fname).write_text(content if isinstance(content, str) else json.dumps(content, indent=1))
    (path / "manifest.json").write_text(json.dumps({"step": kind, "name": name, "hash": digest, "seed": 0,
                                                   "finished_at": "2026-01-01T00:00:00Z", **manifest}, indent=1))
    return digest


def _annotations(instructions: list[str], baseline: list[str], outputs: list[str], pref: np.ndarray,
                 generator: str) -> list[dict[str, Any]]:
    return [{"instruction": ins, "output_1": b, "generator_1": "world_reference", "output_2": o,
             "generator_2": generator, "dataset": "world", "annotator": "world-verifier", "preference": float(p),
             "swapped": bool(i % 2), "failed": False}
            for i, (ins, b, o, p) in enumerate(zip(instructions, baseline, outputs, pref))]


def write_suite(root: Path, datasets: list[DatasetSpec], seeds: tuple[int, ...] = (0,), n_prompts: int = 16,
                suite: str = "fake", seed: int = 0, noise_sd: float | None = None, judge: dict | None = None,
                leaderboard: dict[str, Any] | None = None, prompt_prefix: str = "Task") -> Path:
    """Write runs/<suite>/ under `root`; returns the suite directory."""
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
    lc_hash = _step(out, "lctable", "world", {"config": {"judge": judge}, "inputs": {"world": "w0"}},
                    {"df_gamed.csv": df_gamed.to_csv(index=False)})
    base_hash = _step(out, "pretrain", "tiny-llama", {"config": {"model": {"layers": 2}}, "inputs": {"world": "w0"}})
    records = []
    judge_dirs = {}
    for ds in datasets:
        card = {"builder": ds.builder or ds.name, "size": 100, "content_sha256": _h("card", ds.name) * 5,
                "response_length": {"mean_words": ds.length / 5}}
        build_hash = _step(out, "build", ds.name, {"config": {"builder": card["builder"]}, "inputs": {"world": "w0"}},
                           {"card.json": card})
        for s in seeds:
            run = f"{ds.name}-s{s}"
            train_hash = _step(out, "train", run, {"config": {"recipe": {**RECIPE, "seed": s}, "template": "chatml"},
                                                   "inputs": {"base": base_hash, "data": build_hash}})
            gen_hash = _step(out, "generate", run, {"config": {"max_new_tokens": 32},
                                                    "inputs": {"model": train_hash, "world": "w0"}})
            seed_effect = rng.normal(0, 0.03)
            lengths = np.maximum(5, rng.normal(ds.length, ds.length * 0.6, n_prompts)).astype(int)
            outputs = [f"Answer {i} " + "x" * int(n) for i, n in enumerate(lengths)]
            pref = np.clip(1.5 + ds.quality + seed_effect - difficulty + 0.1 * np.tanh((lengths - 45) / 100)
                           + rng.normal(0, 0.2, n_prompts), 1, 2)
            ann = _annotations(instructions, baseline, outputs, pref, run)
            metrics: dict[str, Any] = lc_winrate(pd.DataFrame(ann).drop(columns=["swapped", "failed"]),
                                                 out / f"lctable-world-{lc_hash}" / "df_gamed.csv")
            metrics.update(avg_length=float(np.mean([len(o) for o in outputs])), baseline="world_reference",
                           n_failed=0)
            digest = _step(out, "judge", run, {"config": {"judge": judge, "randomize_order": True,
                                                          "glm": "length_controlled_v1"},
                                               "inputs": {"outputs": gen_hash, "world": "w0", "lctable": lc_hash},
                                               "judge_fingerprint": judge, "metrics": metrics},
                           {"annotations.json": ann, "metrics.json": metrics})
            judge_dirs[f"judge-{run}-{digest}"] = ann
            records.append({"dataset": ds.name, "builder": card["builder"], "seed": s, "size": card["size"],
                            "train_mean_words": card["response_length"]["mean_words"],
                            "card_sha256": card["content_sha256"], "judge_step": f"judge-{run}-{digest}", **metrics})
    (out / "results.json").write_text(json.dumps(records, indent=2))
    import yaml
    (out / "suite.resolved.yaml").write_text(yaml.safe_dump({"name": suite, "leaderboard": leaderboard or {}}))
    if noise_sd is not None:
        picks = sorted(judge_dirs)[:2]
        original = [a["preference"] for step in picks for a in judge_dirs[step][:6]]
        again = np.clip(np.array(original) + rng.normal(0, noise_sd, len(original)), 1, 2) if noise_sd else original
        from sftbench.suites.evaluations.alpaca_eval.noise_floor import summarize
        doc = {"judge": judge, "judge_steps": picks, "sample_size": 12, "seed": 0, "n_failed": 0,
               **summarize(original, list(again)), "examples": []}
        _step(out, "noisefloor", "judge", {"config": {"sample_size": 12}, "inputs": {"judges": picks}},
              {"noise_floor.json": doc})
    return out
