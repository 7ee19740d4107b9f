"""AlpacaEval as an evaluation plugin: every checkpoint's answers judged pairwise against a baseline, win rate and
length-controlled win rate (alpaca_eval's GLM), on the world's eval prompts (`eval_set: world`, the default) or
on the real AlpacaEval 2.0 set (`alpaca_eval_2`), plus the judge-noise floor after every checkpoint is judged."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sftbench.common.jsonio import read_json
from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations.alpaca_eval import ae2
from sftbench.suites.evaluations.alpaca_eval.spec import AlpacaEvalSpec
from sftbench.suites.evaluations.protocol import Checkpoint, Column, Evaluated, Evaluation, Problem, PromptSource
from sftbench.suites.models.steps import generation_args

ALPACA_EVAL_PROMPTS = 805
COLUMNS = [Column("win_rate", "win rate %", "mean", score="preference", scale=100.0, lower=0.0, upper=100.0,
                  noise_floor=True),
           Column("lc_win_rate", "LC win rate %", "lc_glm", score="preference", lower=0.0, upper=100.0,
                  primary=True),
           Column("avg_output_chars", "avg output chars", "summary", decimals=0)]


@dataclass
class EvalData:
    """The prompts every checkpoint answers and the length-control anchor: AlpacaEval 2.0's eval set (an `aedata`
    step) or the world's eval prompts with the world's length-control table (an `lctable` step)."""
    step: StepKey
    inputs: dict[str, str]
    deps: dict[str, StepKey]
    prompts: dict[str, str]               # where the generate step reads instructions: input name and file
    annotator: dict | None = None         # the alpaca_eval annotator's identity (alpaca_eval_2 only)
    judged: list[StepKey] = field(default_factory=list)

    @property
    def alpaca_eval_2(self) -> bool:
        return self.step.kind == "aedata"


class AlpacaEval(Evaluation):
    name = "alpaca_eval"
    spec = AlpacaEvalSpec
    order = 40
    unit = "prompt"
    kinds = ("aedata", "lctable", "generate", "judge", "aejudge", "noisefloor")

    def check(self, suite: Any, spec: AlpacaEvalSpec) -> list[Problem]:
        if spec.eval_set == "alpaca_eval_2" and suite.roles.judge.provider == "world":
            return [(("evaluation", "alpaca_eval", "eval_set"),
                     "'alpaca_eval_2' needs an LLM judge: set roles.judge to an LLM provider (the world verifier "
                     "judges world prompts only)")]
        return []

    def prepare(self, b: Any, spec: AlpacaEvalSpec) -> EvalData:
        if spec.eval_set == "alpaca_eval_2":  # the real eval set: its df_gamed comes with it (judges/alpaca_eval)
            aedata = b.add("aedata", ae2.BENCHMARK, ae2.data_identity(spec), {},
                           "AlpacaEval 2.0 eval set and length-control table", args={"spec": _json(spec)})
            return EvalData(aedata, {"eval_data": aedata.hash}, {"eval_data": aedata},
                            {"input": "eval_data", "file": ae2.EVAL_FILE}, annotator=_annotator_identity(spec))
        lc = b.add("lctable", "world", {"judge": b.role_ids["judge"], "randomize_order": spec.randomize_order},
                   {"world": b.world.hash}, "judge verbose/concise baselines (length-control table)",
                   deps={"world": b.world}, args={"roles": b.roles_args})
        return EvalData(lc, {"world": b.world.hash}, {"world": b.world}, {"input": "world", "file": "eval_prompts.jsonl"})

    def prompt_source(self, b: Any, spec: AlpacaEvalSpec, ev: EvalData) -> PromptSource:
        return PromptSource({ev.prompts["input"]: ev.deps[ev.prompts["input"]]}, dict(ev.inputs),
                            {"prompts": ev.prompts})

    def eval_prompts(self, spec: AlpacaEvalSpec, inputs: dict[str, Path], args: dict[str, Any]) -> list[str]:
        from sftbench.common.rows import read_jsonl
        where = args["prompts"]
        return [str(r["instruction"]) for r in read_jsonl(inputs[where["input"]] / where["file"], validate=False)]

    def add_checkpoint(self, b: Any, spec: AlpacaEvalSpec, ev: EvalData, ckpt: Checkpoint) -> StepKey:
        gen, run, seed = generation_args(b.suite.generation), ckpt.run_name, ckpt.seed
        outs = b.add("generate", run, gen["config"], {"model": ckpt.train.hash, **ev.inputs},
                     f"generate answers ({run})", seed, deps={"model": ckpt.train, **ev.deps},
                     args={"prompts": ev.prompts, "backend": gen["backend"]})
        judge = b.role_ids["judge"]
        if ev.alpaca_eval_2:
            return b.add("aejudge", run, {"judge": judge, "annotator": ev.annotator, "glm": spec.glm},
                         {"outputs": outs.hash, **ev.inputs},
                         f"AlpacaEval 2.0 judging ({run} vs gpt4_1106_preview)", seed,
                         deps={"outputs": outs, "eval_data": ev.step}, args={"spec": _json(spec), "roles": b.roles_args})
        return b.add("judge", run, {"judge": judge, "randomize_order": spec.randomize_order, "glm": spec.glm},
                     {"outputs": outs.hash, "world": b.world.hash, "lctable": ev.step.hash},
                     f"judge {run} vs world_reference", seed,
                     deps={"outputs": outs, "world": b.world, "lctable": ev.step}, args={"roles": b.roles_args})

    def finish(self, b: Any, spec: AlpacaEvalSpec, ev: EvalData, results: dict[tuple[str, int], StepKey]) \
            -> StepKey | None:
        """Re-judge a fixed sample of the stored annotations: how far the judge disagrees with itself."""
        from sftbench.suites.evaluations.noise_floor import add_noise_floor
        label, args = "re-judge a fixed sample (judge-noise floor)", {"eval_set": spec.eval_set, "spec": _json(spec)}
        if ev.alpaca_eval_2:
            return add_noise_floor(b, "noisefloor", results, label, {"annotator": ev.annotator}, args=args)
        return add_noise_floor(b, "noisefloor", results, label, inputs={"world": b.world.hash},
                               deps={"world": b.world}, args=args)

    def result(self, store: Store, step: Step, spec: AlpacaEvalSpec) -> Evaluated:
        """Per prompt: P(the model's answer beats the baseline's) in [0, 1] (failed judgments count as ties) and
        the length difference the LC GLM controls for."""
        d = store.path(step.key)
        ann = read_json(d / "annotations.json")
        metrics = read_json(d / "metrics.json")
        manifest = store.manifest(step.key)
        pref = [0.5 if _tie(a.get("preference")) else float(a["preference"]) - 1.0 for a in ann]
        delta = [float(len(a.get("output_1") or "") - len(a.get("output_2") or "")) for a in ann]
        anchor_dir = step.deps.get("lctable") or step.deps.get("eval_data")
        anchor = _sha(store.root / anchor_dir / "df_gamed.csv") if anchor_dir else None
        fingerprint = manifest.get("judge_fingerprint") or manifest["config"]["judge"]
        n = len(ann)
        headline = {"win_rate": sum(pref) / n * 100 if n else None,
                    "lc_win_rate": float(metrics["length_controlled_winrate"]),
                    "avg_output_chars": sum(len(a.get("output_2") or "") for a in ann) / n if n else None,
                    "n_prompts": float(n), "n_failed": float(sum(bool(a.get("failed")) for a in ann))}
        ae_2 = step.key.kind == "aejudge"
        return Evaluated(
            benchmark=ae2.BENCHMARK if ae_2 else "alpaca_eval",
            title="AlpacaEval 2.0" if ae_2 else "AlpacaEval (world eval prompts)",
            fingerprint=fingerprint, unit=self.unit,
            units=[f"{i}:{hashlib.sha256(str(a['instruction']).encode()).hexdigest()[:10]}" for i, a in enumerate(ann)],
            scores={"preference": pref, "delta_len": delta}, headline=headline, columns=COLUMNS,
            info={"baseline": metrics.get("baseline") or (ann[0]["generator_1"] if ann else None), "anchor": anchor,
                  "glm": manifest["config"].get("glm", "length_controlled_v1"), "length_column": "avg_output_chars"},
            steps={"judge": step.key.dirname, "generate": step.deps.get("outputs"), "anchor": anchor_dir})

    def export(self, store: Store, step: Step, spec: AlpacaEvalSpec, dest: Path) -> list[Path]:
        """alpaca_eval's own files: `model_outputs.json` (instruction, output, generator, dataset) and the
        annotations (`annotations.json`, its pairwise format: output_1 = baseline, preference in [1, 2])."""
        from sftbench.common.jsonio import write_json_atomic
        from sftbench.common.rows import read_jsonl
        ann = read_json(store.path(step.key) / "annotations.json")
        outputs = read_jsonl(store.root / step.deps["outputs"] / "outputs.jsonl", validate=False)
        folder = dest / step.key.name
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "model_outputs.json", [
            {"instruction": o["instruction"], "output": o["output"], "generator": o.get("generator", step.key.name),
             "dataset": a.get("dataset", "")} for o, a in zip(outputs, ann)])
        write_json_atomic(folder / "annotations.json", ann)
        return [folder / "model_outputs.json", folder / "annotations.json"]

    def anchors(self, store: Store, step: Step) -> dict[str, pd.DataFrame]:
        anchor_dir = step.deps.get("lctable") or step.deps.get("eval_data")
        if not anchor_dir:
            return {}
        path = store.root / anchor_dir / "df_gamed.csv"
        return {_sha(path): pd.read_csv(path)}

    def suite_result(self, store: Store, step: Step) -> tuple[str, dict[str, Any]]:
        from sftbench.suites.evaluations.noise_floor import stored_summary
        benchmark = ae2.BENCHMARK if step.args.get("eval_set") == "alpaca_eval_2" else "alpaca_eval"
        return benchmark, stored_summary(store.path(step.key))

    def expected_calls(self, suite: Any, spec: AlpacaEvalSpec, step: Step) -> dict[str, int]:
        kind = step.key.kind
        if kind == "lctable":
            return {"judge": 2 * suite.world.eval_prompts}
        if kind == "judge":
            return {"judge": suite.world.eval_prompts}
        if kind == "aejudge":
            return {"judge": spec.max_instances or ALPACA_EVAL_PROMPTS}
        if kind == "noisefloor":  # a sample of the stored annotations, at most all of them
            n_eval = spec.max_instances or ALPACA_EVAL_PROMPTS if spec.eval_set == "alpaca_eval_2" else \
                suite.world.eval_prompts
            return {"judge": min(suite.leaderboard.noise_floor_sample, n_eval * len(suite.datasets) * len(suite.seeds))}
        return {}

    def preflight(self, suite: Any, spec: AlpacaEvalSpec, pending: set[str]) -> None:
        if "generate" in pending:
            from sftbench.suites.models.generate import resolve_backend
            resolve_backend(suite.generation.backend)


def _json(spec: AlpacaEvalSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json")


def _tie(value: Any) -> bool:
    """alpaca_eval's 0.0 'draw' code, a missing or NaN preference: counted as a tie."""
    return value is None or value != value or float(value) == 0.0


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_text().encode()).hexdigest()[:12]


def _annotator_identity(spec: AlpacaEvalSpec) -> dict:
    """An alpaca_eval annotator config as it decides answers: prompt sha256, decoding, parser (for step hashes)."""
    from sftbench.judges.alpaca_eval.configs import load_annotator_config
    return load_annotator_config(spec.annotator).describe()
