"""From a suite to an ordered list of steps, each keyed by a hash of its config and its inputs' hashes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from datasets_builders.registry import parse_params, prompt_ids, roles_used
from suites import steps
from suites.roles import RoleSession, role_identity
from suites.schema import Suite, resolved_recipe_and_template
from suites.store import StepKey, Store

DATA_SEED = 0  # datasets are built once; training seeds vary the fine-tuning only
RESUME_DIR = ".resume"  # per-train-step checkpoints that survive a kill (under runs/<suite>/)


@dataclass
class Step:
    key: StepKey
    label: str
    run: Callable[[Path, dict], dict | None]   # (temporary output dir, manifest extras) -> stats
    seed: int | None = None


@dataclass
class Plan:
    suite: Suite
    store: Store
    steps: list[Step]
    judged: dict[tuple[str, int], StepKey]   # (dataset, seed) -> judge step
    built: dict[str, StepKey]                 # dataset -> build step
    session: RoleSession                      # live LLM roles, built on first use during `execute`
    openllm: dict[tuple[str, int], StepKey]   # (dataset, seed) -> lm-eval step, when the suite asks for one
    mt_bench: dict[tuple[str, int], StepKey]  # (dataset, seed) -> MT-Bench judging step, when enabled
    wildbench: dict[tuple[str, int], StepKey] = field(default_factory=dict)  # (dataset, seed) -> WildBench judging


def make_plan(suite: Suite, runs_dir: Path, threads: int | None = None, progress: bool = True,
              max_usd: float | None = None) -> Plan:
    from suites.base_model import TinyModelConfig
    from datasets_builders.world import WORLD_VERSION

    store = Store(runs_dir / suite.name)
    threads = threads or suite.threads
    session = RoleSession(suite.roles, store.root, max_usd=max_usd, progress=progress)
    role_ids = {name: role_identity(name, getattr(suite.roles, name)) for name in ("teacher", "rater", "judge")}
    plan: list[Step] = []

    def add(kind: str, name: str, config: dict, inputs: dict, run: Callable, label: str, seed: int | None = None):
        key = StepKey(kind, name, config, inputs)
        plan.append(Step(key, label, run, seed))
        return key

    world = add("world", "world", {**suite.world.model_dump(mode="json"), "version": WORLD_VERSION}, {},
                lambda out, _: steps.world_step(suite.world, out), "generate the built-in world")
    pool_inputs = {"world": world.hash}
    if suite.pool.source != "world":
        from suites.hashing import hash_file
        pool_inputs["pool"] = {"source": suite.pool.source, "revision": suite.pool.revision,
                               "skip_bad_rows": suite.pool.skip_bad_rows,
                               "content": hash_file(suite.pool.path) if suite.pool.path else None}
    wdir = lambda: store.path(world)  # noqa: E731

    built: dict[str, StepKey] = {}
    for ds in suite.datasets:
        params = parse_params(ds.builder, ds.params).model_dump(mode="json")
        used = roles_used(ds.builder, params)
        built[ds.name] = add("build", ds.name, {"builder": ds.builder, "params": params, "seed": DATA_SEED,
                                                "roles": {r: role_ids[r] for r in used},
                                                "prompts": prompt_ids(ds.builder, params)}, pool_inputs,
                             lambda out, _, ds=ds, used=used: steps.build_step(
                                 ds, suite, wdir(), {r: session.get(r) for r in used}, out, DATA_SEED, progress),
                             f"build dataset {ds.name} ({ds.builder})", DATA_SEED)

    if suite.base_model.kind == "tiny":
        tok = add("tokenizer", "bpe", suite.base_model.tokenizer.model_dump(), pool_inputs,
                  lambda out, _: _tokenizer(suite, wdir(), out), "train the BPE tokenizer")
        model_cfg = TinyModelConfig.model_validate(suite.base_model.config)
        base = add("pretrain", "tiny-llama", {"model": model_cfg.model_dump(mode="json"),
                                              "pretrain": suite.base_model.pretrain.model_dump()},
                   {"tokenizer": tok.hash, **pool_inputs},
                   lambda out, _: _pretrain(suite, model_cfg, wdir(), store.path(tok), out, threads, progress),
                   "pretrain the base model", 0)
    else:
        base = _real_base(suite, add)

    ae = suite.evaluation.alpaca_eval
    if ae.eval_set == "alpaca_eval_2":  # the real eval set: its df_gamed comes with it (judges/alpaca_eval)
        from suites import alpaca_eval_steps as ae2
        aedata = add("aedata", ae2.BENCHMARK, ae2.data_identity(ae), {}, lambda out, _: ae2.data_step(ae, out),
                     "AlpacaEval 2.0 eval set and length-control table")
        eval_inputs = {"eval_data": aedata.hash}
        eval_file = lambda: ae2.instructions_file(store.path(aedata))  # noqa: E731
        annotator = _annotator_identity(ae.annotator)
    else:
        lc = add("lctable", "world", {"judge": role_ids["judge"], "randomize_order": ae.randomize_order},
                 {"world": world.hash},
                 lambda out, _: steps.lc_table_step(wdir(), session.get("judge"), ae.randomize_order, out),
                 "judge verbose/concise baselines (length-control table)")
        eval_inputs = {"world": world.hash}
        eval_file = lambda: wdir() / "eval_prompts.jsonl"  # noqa: E731

    judged: dict[tuple[str, int], StepKey] = {}
    openllm: dict[tuple[str, int], StepKey] = {}
    mt_bench: dict[tuple[str, int], StepKey] = {}
    wildbench: dict[tuple[str, int], StepKey] = {}
    wb_inputs: dict[str, Any] = {}
    if (wb := suite.evaluation.wildbench).enabled:
        from suites.wildbench_steps import input_identity
        wb_inputs = {"tasks": input_identity(wb.tasks_path, "tasks_path"),
                     "templates": "pinned" if wb.templates_dir is None else input_identity(wb.templates_dir,
                                                                                          "templates_dir"),
                     "references": {n: input_identity(p, f"references.{n}") for n, p in wb.references.items()}}
    gen = suite.generation
    for ds in suite.datasets:
        for seed in suite.seeds:
            recipe, template = resolved_recipe_and_template(suite, seed)
            run_name = f"{ds.name}-s{seed}"
            train_cfg = {"recipe": recipe.model_dump(mode="json"), "template": template}
            train_inputs = {"base": base.hash, "data": built[ds.name].hash}
            heldout = None
            if recipe.select == "best_heldout":  # only then: the hashes of select: last steps stay as they were
                from suites import heldout as ho
                train_cfg.update(heldout=ho.config(suite), judge=role_ids["judge"])
                train_inputs.update(ho.inputs(suite.evaluation.heldout, world.hash))
                heldout = lambda log_dir, ds=ds, run_name=run_name: ho.metric_for(  # noqa: E731
                    suite, wdir(), store.path(built[ds.name]), session.get("judge"), threads, log_dir, run_name)
            resume = store.root / RESUME_DIR / StepKey("train", run_name, train_cfg, train_inputs).dirname
            train = add("train", run_name, train_cfg, train_inputs,
                        lambda out, _, ds=ds, recipe=recipe, template=template, resume=resume, heldout=heldout: _train(
                            store, base, built[ds.name], recipe, template, out, threads, progress, resume, heldout),
                        f"fine-tune on {ds.name} (seed {seed})", seed)
            if (ol := suite.evaluation.openllm) is not None:
                openllm[(ds.name, seed)] = add(
                    "openllm", run_name, {**ol.model_dump(mode="json"), "version": 1}, {"model": train.hash},
                    lambda out, _, train=train, ol=ol: _openllm(store, train, ol, out, threads),
                    f"OpenLLM tasks ({run_name})", seed)
            if (mt := suite.evaluation.mt_bench).enabled:
                from suites import mt_bench_steps
                answers = add("mtanswers", run_name, mt.model_dump(mode="json"), {"model": train.hash},
                              lambda out, _, train=train, run_name=run_name, mt=mt: mt_bench_steps.answers_step(
                                  store.path(train), mt.data_dir, mt.max_new_tokens, mt.batch_size, threads,
                                  run_name, out, progress),
                              f"MT-Bench answers ({run_name})", seed)
                mt_bench[(ds.name, seed)] = add(
                    "mtjudge", run_name, {"judge": role_ids["judge"], "data_dir": str(mt.data_dir or "")},
                    {"answers": answers.hash},
                    lambda out, _, answers=answers, mt=mt: mt_bench_steps.judge_step(
                        store.path(answers), mt.data_dir, session, out),
                    f"MT-Bench judging ({run_name})", seed)
            if wb.enabled:
                from suites import wildbench_steps
                wb_answers = add(
                    "wbanswers", run_name, {**wb.model_dump(mode="json", include={"tasks_path", "max_tasks",
                                                                                  "max_new_tokens", "batch_size"}),
                                            "version": 1},
                    {"model": train.hash, "tasks": wb_inputs["tasks"]},
                    lambda out, _, train=train, run_name=run_name: wildbench_steps.answers_step(
                        store.path(train), wb.tasks_path, wb.max_tasks, wb.max_new_tokens, wb.batch_size, threads,
                        run_name, out, progress),
                    f"WildBench answers ({run_name})", seed)
                wildbench[(ds.name, seed)] = add(
                    "wbjudge", run_name, {"judge": role_ids["judge"], "K": wb.K, "version": 1,
                                          **wb.model_dump(mode="json", include={"templates_dir", "references"})},
                    {"answers": wb_answers.hash, "templates": wb_inputs["templates"],
                     "references": wb_inputs["references"]},
                    lambda out, _, wb_answers=wb_answers: wildbench_steps.judge_step(
                        store.path(wb_answers), wb.templates_dir, wb.references, wb.K, session, out),
                    f"WildBench judging ({run_name})", seed)
            outs = add("generate", run_name, gen.model_dump(), {"model": train.hash, **eval_inputs},
                       lambda out, _, train=train, run_name=run_name: steps.generate_step(
                           store.path(train), eval_file(), gen.max_new_tokens, gen.batch_size, threads, run_name,
                           out, progress),
                       f"generate answers ({run_name})", seed)
            if ae.eval_set == "alpaca_eval_2":
                judged[(ds.name, seed)] = add(
                    "aejudge", run_name, {"judge": role_ids["judge"], "annotator": annotator, "glm": ae.glm},
                    {"outputs": outs.hash, **eval_inputs},
                    lambda out, _, outs=outs, run_name=run_name: ae2.judge_step(
                        store.path(aedata), store.path(outs), ae, session, run_name, out),
                    f"AlpacaEval 2.0 judging ({run_name} vs gpt4_1106_preview)", seed)
            else:
                judged[(ds.name, seed)] = add(
                    "judge", run_name, {"judge": role_ids["judge"], "randomize_order": ae.randomize_order,
                                        "glm": ae.glm},
                    {"outputs": outs.hash, "world": world.hash, "lctable": lc.hash},
                    lambda out, _, outs=outs, run_name=run_name: steps.judge_step(
                        wdir(), store.path(outs), store.path(lc) / "df_gamed.csv", session.get("judge"),
                        ae.randomize_order, ae.glm, run_name, out),
                    f"judge {run_name} vs world_reference", seed)
    lb = suite.leaderboard
    if lb.noise_floor_sample and judged:
        from suites.noise_floor import noise_floor_step, pairwise_noise_floor
        keys = list(judged.values())
        stored = lambda: {k.dirname: steps.read_json(store.path(k) / "annotations.json") for k in keys}  # noqa: E731
        if ae.eval_set == "alpaca_eval_2":
            add("noisefloor", "judge", {"judge": role_ids["judge"], "annotator": annotator,
                                        "sample_size": lb.noise_floor_sample, "seed": lb.seed},
                {"judges": {k.dirname: k.hash for k in keys}},
                lambda out, _: noise_floor_step(stored(), *ae2.rejudge(ae, session), lb.noise_floor_sample,
                                                lb.seed, out),
                "re-judge a fixed sample (judge-noise floor)")
        else:
            add("noisefloor", "judge", {"judge": role_ids["judge"], "sample_size": lb.noise_floor_sample,
                                        "seed": lb.seed},
                {"judges": {k.dirname: k.hash for k in keys}, "world": world.hash},
                lambda out, _: pairwise_noise_floor(steps.eval_prompts(wdir()), stored(),
                                                    session.get_uncached("judge"), lb.noise_floor_sample, lb.seed,
                                                    out),
                "re-judge a fixed sample (judge-noise floor)")
    return Plan(suite, store, plan, judged, built, session, openllm, mt_bench, wildbench=wildbench)


def _annotator_identity(name: str) -> dict:
    """An alpaca_eval annotator config as it decides answers: prompt sha256, decoding, parser (for step hashes)."""
    from judges.alpaca_eval.configs import load_annotator_config
    return load_annotator_config(name).describe()


def _tokenizer(suite: Suite, world_dir: Path, out: Path) -> dict:
    from datasets_builders.world import pool_text
    from suites.tokenizer_train import train_tokenizer
    texts = list(pool_text(steps.load_pool(suite, world_dir)))
    train_tokenizer(texts, suite.base_model.tokenizer.vocab_size, out)
    return {"texts": len(texts)}


def _pretrain(suite: Suite, cfg: Any, world_dir: Path, tok_dir: Path, out: Path, threads: int,
              progress: bool) -> dict:
    from datasets_builders.world import pool_text
    from suites.base_model import pretrain_base
    p = suite.base_model.pretrain
    texts = list(pool_text(steps.load_pool(suite, world_dir)))
    stats = pretrain_base(texts, tok_dir, cfg, out, steps=p.steps, batch_size=p.batch_size, seq_len=p.seq_len,
                          lr=p.lr, seed=0, threads=threads, progress=progress)
    return {"stats": stats}


def _train(store: Store, base: StepKey, data: StepKey, recipe: Any, template: str, out: Path, threads: int,
           progress: bool, resume_dir: Path, heldout: Callable[[Path], Any] | None = None) -> dict:
    """Fine-tune; intermediate checkpoints go to `resume_dir` (outside the step's temporary directory), so a
    killed run resumes from its last checkpoint; the runner deletes it once the step is stored. `heldout`
    (select: best_heldout) makes the held-out metric (suites/heldout.py) from that directory."""
    from suites.train import sft_train
    metric = heldout(resume_dir) if heldout is not None else None
    stats = sft_train(store.path(base), steps.sft_rows(store.path(data)), recipe, template, out,
                      threads=threads, progress=progress, resume_dir=resume_dir, heldout_metric=metric)
    return {"stats": metric.annotate(stats, out) if metric is not None else stats}


def _openllm(store: Store, train: StepKey, config: Any, out: Path, threads: int) -> dict:
    """lm-eval on one checkpoint; its response cache lives outside the step so a killed run keeps it."""
    from suites.openllm import openllm_step
    return openllm_step(store.path(train), config, out, threads, cache_dir=store.root / "lm_eval_cache")


def _real_base(suite: Suite, add: Callable) -> StepKey:
    """A real base model (HF id at a pinned revision, local directory, GGUF) materialised once as safetensors."""
    from suites.base_models import materialize
    from suites.hashing import hash_dir
    ref = suite.base_model.ref()
    inputs = {"local_content": hash_dir(ref.path)} if ref.kind == "local" else {}
    return add("base", ref.kind, ref.identity(), inputs, lambda out, _: {"stats": materialize(ref, out)},
               f"materialise base model ({ref.kind})", 0)
