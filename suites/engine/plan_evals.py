"""The evaluation steps of a plan (suites/plan.py): the eval data, each checkpoint's evaluations (OpenLLM,
MT-Bench, WildBench, AlpacaEval generate + judge) and the judge-noise floor.

Each `add_*` function appends its steps to a `PlanBuilder` and returns the key the Plan records. Keys, labels
and seeds are part of every user's cache: keep them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from sftbench.suites.engine import steps
from sftbench.suites.engine.store import StepKey

if TYPE_CHECKING:
    from sftbench.suites.evaluations.openllm.catalog import OpenLLMConfig
    from sftbench.suites.engine.plan import PlanBuilder
    from sftbench.suites.engine.schema import MTBenchSpec, WildBenchSpec


@dataclass
class EvalData:
    """The prompts every checkpoint answers: AlpacaEval 2.0's eval set (an `aedata` step) or the world's eval
    prompts, judged with the world's length-control table (an `lctable` step)."""
    step: StepKey                  # the aedata or lctable step
    inputs: dict[str, str]         # input hashes of the generate (and aejudge) steps
    prompts: Callable[[], Path]    # the instructions file, once `step` (or the world) is stored
    annotator: dict | None = None  # the alpaca_eval annotator's identity (alpaca_eval_2 only)

    @property
    def alpaca_eval_2(self) -> bool:
        return self.step.kind == "aedata"


def add_eval_data(b: PlanBuilder) -> EvalData:
    ae = b.suite.evaluation.alpaca_eval
    if ae.eval_set == "alpaca_eval_2":  # the real eval set: its df_gamed comes with it (judges/alpaca_eval)
        from sftbench.suites.evaluations.alpaca_eval import ae2
        aedata = b.add("aedata", ae2.BENCHMARK, ae2.data_identity(ae), {}, lambda out, _: ae2.data_step(ae, out),
                       "AlpacaEval 2.0 eval set and length-control table")
        return EvalData(aedata, {"eval_data": aedata.hash}, lambda: ae2.instructions_file(b.path(aedata)),
                        annotator=_annotator_identity(ae.annotator))
    lc = b.add("lctable", "world", {"judge": b.role_ids["judge"], "randomize_order": ae.randomize_order},
               {"world": b.world.hash},
               lambda out, _: steps.lc_table_step(b.world_dir(), b.session.get("judge"), ae.randomize_order, out),
               "judge verbose/concise baselines (length-control table)")
    return EvalData(lc, {"world": b.world.hash}, lambda: b.world_dir() / "eval_prompts.jsonl")


def add_openllm(b: PlanBuilder, ol: OpenLLMConfig, train: StepKey, run_name: str, seed: int) -> StepKey:
    def run(out: Path, _: dict) -> dict:
        from sftbench.suites.evaluations.openllm.run import openllm_step
        # lm-eval's response cache lives outside the step, so a killed run keeps it
        return openllm_step(b.path(train), ol, out, b.threads, cache_dir=b.store.root / "lm_eval_cache")
    return b.add("openllm", run_name, {**ol.model_dump(mode="json"), "version": 1}, {"model": train.hash}, run,
                 f"OpenLLM tasks ({run_name})", seed)


def add_mt_bench(b: PlanBuilder, mt: MTBenchSpec, train: StepKey, run_name: str, seed: int) -> StepKey:
    """The checkpoint's MT-Bench answers, then the judge's grades (the key returned)."""
    from sftbench.suites.evaluations.mt_bench import steps as mt_bench_steps
    backend = b.suite.generation.backend
    answers = b.add("mtanswers", run_name, {**mt.model_dump(mode="json"), **b.suite.generation.backend_param()},
                    {"model": train.hash},
                    lambda out, _: mt_bench_steps.answers_step(b.path(train), mt.data_dir, mt.max_new_tokens,
                                                               mt.batch_size, b.threads, run_name, out, b.progress,
                                                               backend),
                    f"MT-Bench answers ({run_name})", seed)
    return b.add("mtjudge", run_name, {"judge": b.role_ids["judge"], "data_dir": str(mt.data_dir or "")},
                 {"answers": answers.hash},
                 lambda out, _: mt_bench_steps.judge_step(b.path(answers), mt.data_dir, b.session, out),
                 f"MT-Bench judging ({run_name})", seed)


def wildbench_inputs(wb: WildBenchSpec) -> dict[str, Any]:
    """What WildBench's local files (or pinned hub revisions) contribute to step hashes; computed once per plan."""
    if not wb.enabled:
        return {}
    from sftbench.suites.evaluations.wildbench.steps import input_identity
    return {"tasks": input_identity(wb.tasks_path, "tasks_path"),
            "templates": "pinned" if wb.templates_dir is None else input_identity(wb.templates_dir, "templates_dir"),
            "references": {n: input_identity(p, f"references.{n}") for n, p in wb.references.items()}}


def add_wildbench(b: PlanBuilder, wb: WildBenchSpec, wb_inputs: dict[str, Any], train: StepKey, run_name: str,
                  seed: int) -> StepKey:
    """The checkpoint's WildBench answers, then the judge's scores and rewards (the key returned)."""
    from sftbench.suites.evaluations.wildbench import steps as wildbench_steps
    answers_cfg = wb.model_dump(mode="json", include={"tasks_path", "max_tasks", "max_new_tokens", "batch_size"})
    backend = b.suite.generation.backend
    answers = b.add("wbanswers", run_name, {**answers_cfg, "version": 1, **b.suite.generation.backend_param()},
                    {"model": train.hash, "tasks": wb_inputs["tasks"]},
                    lambda out, _: wildbench_steps.answers_step(b.path(train), wb.tasks_path, wb.max_tasks,
                                                                wb.max_new_tokens, wb.batch_size, b.threads,
                                                                run_name, out, b.progress, backend),
                    f"WildBench answers ({run_name})", seed)
    return b.add("wbjudge", run_name, {"judge": b.role_ids["judge"], "K": wb.K, "version": 1,
                                       **wb.model_dump(mode="json", include={"templates_dir", "references"})},
                 {"answers": answers.hash, "templates": wb_inputs["templates"],
                  "references": wb_inputs["references"]},
                 lambda out, _: wildbench_steps.judge_step(b.path(answers), wb.templates_dir, wb.references, wb.K,
                                                           b.session, out),
                 f"WildBench judging ({run_name})", seed)


def add_generate(b: PlanBuilder, train: StepKey, run_name: str, seed: int) -> StepKey:
    """The checkpoint's answers to the eval prompts (AlpacaEval's or the world's)."""
    gen = b.suite.generation
    config = {**gen.model_dump(mode="json", exclude={"backend"}), **gen.backend_param()}
    return b.add("generate", run_name, config, {"model": train.hash, **b.eval.inputs},
                 lambda out, _: steps.generate_step(b.path(train), b.eval.prompts(), gen.max_new_tokens,
                                                    gen.batch_size, b.threads, run_name, out, b.progress,
                                                    gen.backend),
                 f"generate answers ({run_name})", seed)


def add_judge(b: PlanBuilder, outs: StepKey, run_name: str, seed: int) -> StepKey:
    """Pairwise judging of the generated answers: vs gpt4_1106_preview (AlpacaEval 2.0) or the world's references."""
    ae, ev, judge = b.suite.evaluation.alpaca_eval, b.eval, b.role_ids["judge"]
    if ev.alpaca_eval_2:
        from sftbench.suites.evaluations.alpaca_eval import ae2
        return b.add("aejudge", run_name, {"judge": judge, "annotator": ev.annotator, "glm": ae.glm},
                     {"outputs": outs.hash, **ev.inputs},
                     lambda out, _: ae2.judge_step(b.path(ev.step), b.path(outs), ae, b.session, run_name, out),
                     f"AlpacaEval 2.0 judging ({run_name} vs gpt4_1106_preview)", seed)
    return b.add("judge", run_name, {"judge": judge, "randomize_order": ae.randomize_order, "glm": ae.glm},
                 {"outputs": outs.hash, "world": b.world.hash, "lctable": ev.step.hash},
                 lambda out, _: steps.judge_step(b.world_dir(), b.path(outs), b.path(ev.step) / "df_gamed.csv",
                                                 b.session.get("judge"), ae.randomize_order, ae.glm, run_name, out),
                 f"judge {run_name} vs world_reference", seed)


def add_noise_floor(b: PlanBuilder, judged: list[StepKey]) -> StepKey:
    """Re-judge a fixed sample of the stored annotations: how far the judge disagrees with itself."""
    from sftbench.suites.evaluations.alpaca_eval.noise_floor import noise_floor_step, pairwise_noise_floor
    ae, lb, ev = b.suite.evaluation.alpaca_eval, b.suite.leaderboard, b.eval
    label = "re-judge a fixed sample (judge-noise floor)"
    judges = {"judges": {k.dirname: k.hash for k in judged}}

    def stored() -> dict[str, Any]:
        return {k.dirname: steps.read_json(b.path(k) / "annotations.json") for k in judged}
    if ev.alpaca_eval_2:
        from sftbench.suites.evaluations.alpaca_eval import ae2
        return b.add("noisefloor", "judge", {"judge": b.role_ids["judge"], "annotator": ev.annotator,
                                             "sample_size": lb.noise_floor_sample, "seed": lb.seed}, judges,
                     lambda out, _: noise_floor_step(stored(), *ae2.rejudge(ae, b.session), lb.noise_floor_sample,
                                                     lb.seed, out), label)
    return b.add("noisefloor", "judge", {"judge": b.role_ids["judge"], "sample_size": lb.noise_floor_sample,
                                         "seed": lb.seed}, {**judges, "world": b.world.hash},
                 lambda out, _: pairwise_noise_floor(steps.eval_prompts(b.world_dir()), stored(),
                                                     b.session.get_uncached("judge"), lb.noise_floor_sample, lb.seed,
                                                     out), label)


def _annotator_identity(name: str) -> dict:
    """An alpaca_eval annotator config as it decides answers: prompt sha256, decoding, parser (for step hashes)."""
    from sftbench.judges.alpaca_eval.configs import load_annotator_config
    return load_annotator_config(name).describe()
