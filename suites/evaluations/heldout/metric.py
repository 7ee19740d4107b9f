"""Held-out checkpoint selection for `recipe.select: best_heldout` (Instruct-SkillMix picks the best epoch by an
AlpacaEval-style win rate on ~100 held-out prompts).

The metric a train step gives `sft_train`: the epoch's checkpoint answers the held-out prompts greedily (as the
generate step does), the suite's judge compares each answer with the prompt's reference answer (pairwise, through
the session, so calls are cached and costed), and the score is the win rate in percent (a tie counts 0.5).
Prompts come from `evaluation.heldout` (suites.schema.HeldoutSpec): fresh world prompts, each dataset's `heldout`
sidecar, or a local file of instruction + output rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from sftbench.common.jsonio import write_json_atomic
from sftbench.common.rows import Row, prompt_text, read_jsonl, write_jsonl
from sftbench.suites.engine.schema import Suite, WorldSpec
from sftbench.suites.evaluations.heldout.spec import HeldoutSpec

VERSION = 1               # bump when the metric changes: it is part of the train step's config
SEED_OFFSET = 1009        # world held-out prompts: seed = world.seed + this (eval prompts use world.seed + 2)
DETAILS_FILE = "heldout_scores.json"  # in the resume dir: per-epoch n and n_failed (survives a killed run)
BASELINE = "heldout_reference"


def config(suite: Suite, spec: HeldoutSpec) -> dict[str, Any]:
    """What the held-out metric depends on besides its inputs' hashes and the judge: the train step hashes it.
    The judge shows pairs in random order exactly when the suite's pairwise evaluation does."""
    randomize = getattr(suite.evaluation_section("alpaca_eval"), "randomize_order", True)
    return {**spec.model_dump(mode="json"), "max_new_tokens": spec.max_new_tokens or suite.generation.max_new_tokens,
            "batch_size": suite.generation.batch_size, "randomize_order": randomize, "version": VERSION}


def inputs(spec: HeldoutSpec, world_hash: str) -> dict[str, str]:
    """Input hashes of the held-out set (a sidecar's is the build step's, already a train input)."""
    if spec.source == "world":
        return {"heldout_world": world_hash}
    if spec.source == "file":
        from sftbench.common.hashing import hash_local
        return {"heldout_file": hash_local(spec.path, "evaluation.heldout.path")}
    return {}


def world_prompts(world: WorldSpec, n: int, world_dir: Path) -> list[Row]:
    """`n` world prompts from the eval side of the task split, none equal to an eval prompt or a pool row."""
    from sftbench.datasets_builders.world import make_eval_prompts
    taken = {r["instruction"] for name in ("eval_prompts", "pool")
             for r in read_jsonl(world_dir / f"{name}.jsonl", validate=False)}
    chosen: list[Row] = []
    for factor in (2, 4, 8):  # over-draw, then drop the ones already used; a larger draw is a fresh sequence
        seen = set(taken)
        chosen = []
        drawn = make_eval_prompts(factor * n, seed=world.seed + SEED_OFFSET, composition_frac=world.composition_frac)
        for row in drawn:
            if row["instruction"] not in seen:
                seen.add(row["instruction"])
                chosen.append({**row, "dataset": "world_heldout"})
        if len(chosen) >= n:
            break
    return chosen[:n]


def heldout_set(spec: HeldoutSpec, world: WorldSpec, world_dir: Path, build_dir: Path) -> tuple[list[Row], list[str]]:
    """(prompts, reference outputs): the first `n` of the configured source."""
    if spec.source == "world":
        from sftbench.datasets_builders.world import reference_outputs
        prompts = world_prompts(world, spec.n, world_dir)
        return prompts, [r["output"] for r in reference_outputs(prompts)]
    if spec.source == "sidecar":
        path = build_dir / "heldout.jsonl"
        if not path.is_file():
            raise ValueError(f"{build_dir}: the build wrote no heldout.jsonl sidecar (evaluation.heldout.source "
                             "'sidecar'); give the builder a held-out set (skillmix: params.heldout) or use source "
                             "'world' or 'file'")
        rows = read_jsonl(path)[: spec.n]
    else:
        from sftbench.datasets_builders.formats import load_rows
        rows = load_rows(spec.path).rows[: spec.n]
    return rows, [r["output"] for r in rows]


class HeldoutMetric:
    """checkpoint dir -> win rate (%) against the reference answers; per-epoch details persist in `log_dir`."""

    def __init__(self, prompts: Sequence[Row], references: Sequence[str], judge: Any, max_new_tokens: int,
                 batch_size: int, threads: int, randomize_order: bool, log_dir: Path, generator: str):
        if not prompts:
            raise ValueError("the held-out set is empty; check evaluation.heldout (source, n)")
        self.prompts, self.references, self.judge = list(prompts), list(references), judge
        self.max_new_tokens, self.batch_size, self.threads = max_new_tokens, batch_size, threads
        self.randomize_order, self.generator = randomize_order, generator
        self.file = log_dir / DETAILS_FILE

    def details(self) -> dict[str, dict]:
        return json.loads(self.file.read_text(encoding="utf-8")) if self.file.is_file() else {}

    def __call__(self, checkpoint_dir: Path) -> float:
        from sftbench.judges.pairwise import annotate_pairs
        from sftbench.suites.models.generate import generate
        from sftbench.suites.engine.roles import FailureLog
        # transformers, never vLLM: this runs inside training, whose model already holds the GPU's memory
        outputs = generate(checkpoint_dir, [prompt_text(p) for p in self.prompts], max_new_tokens=self.max_new_tokens,
                           batch_size=self.batch_size, threads=self.threads, progress=False, backend="transformers")
        failures = FailureLog(judge=self.judge)
        records = annotate_pairs(self.prompts, self.references, outputs, self.judge, generator=self.generator,
                                 baseline_name=BASELINE, annotator=self.judge.fingerprint.get("model", "judge"),
                                 randomize_order=self.randomize_order)
        score = 100.0 * sum(r["preference"] - 1.0 for r in records) / len(records)
        name = Path(checkpoint_dir).name
        self.file.parent.mkdir(parents=True, exist_ok=True)
        failures.write(self.file.parent / "heldout_failures" / name)  # raw answers of failed judge calls, if any
        details = {**self.details(), name: {"n": len(records), "n_failed": sum(bool(r["failed"]) for r in records),
                                            "win_rate": round(score, 4)}}
        write_json_atomic(self.file, details)
        return score

    def annotate(self, stats: dict[str, Any], out: Path) -> dict[str, Any]:
        """The train step's stats with n and n_failed added to every epoch's selection score; the held-out set
        (with its references) and any failed judge answers go to `out/heldout/`."""
        import shutil
        write_jsonl(out / "heldout" / "prompts.jsonl",
                    [{**p, "reference": r} for p, r in zip(self.prompts, self.references)])
        if (failed := self.file.parent / "heldout_failures").is_dir():
            shutil.copytree(failed, out / "heldout" / "failures", dirs_exist_ok=True)
        details = self.details()
        selection = stats.get("selection") or {}
        for entry in selection.get("scores", []):
            entry.update({k: v for k, v in details.get(entry["dir"], {}).items() if k != "win_rate"})
        selection["heldout"] = {"n": len(self.prompts), "metric": "win_rate", "baseline": BASELINE,
                                "judge_fingerprint": self.judge.fingerprint}
        return stats


def metric_from_step(params: dict[str, Any], inputs: dict[str, Path], ctx: Any, log_dir: Path,
                     generator: str) -> HeldoutMetric:
    """The train step's epoch metric (its `args.selection.factory`), from the parameters the plugin planned."""
    spec, world = HeldoutSpec.model_validate(params["heldout"]), WorldSpec.model_validate(params["world"])
    prompts, references = heldout_set(spec, world, inputs["world"], inputs["data"])
    cfg = params["config"]
    judge = ctx.roles(params["roles"]).get("judge")
    return HeldoutMetric(prompts, references, judge, cfg["max_new_tokens"], cfg["batch_size"], ctx.threads,
                         cfg["randomize_order"], log_dir, generator)
