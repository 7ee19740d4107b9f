"""From a suite to an ordered list of steps, each keyed by a hash of its config and its inputs' hashes.

`make_plan` runs the stages of a `PlanBuilder` in order: the world, the datasets, the base model, the eval
data, then per (dataset, seed) a checkpoint and its evaluations (suites/plan_evals.py), then the judge-noise
floor. Step keys, labels, seeds and order are part of every user's cache: changing them re-runs work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sftbench.datasets_builders.registry import parse_params, prompt_ids, roles_used
from sftbench.suites.engine import plan_evals as evals
from sftbench.suites.engine import steps
from sftbench.suites.engine.roles import RoleSession, role_identity
from sftbench.suites.engine.schema import DatasetSpec, Suite, resolved_recipe_and_template
from sftbench.suites.engine.store import StepKey, Store

DATA_SEED = 0  # datasets are built once; training seeds vary the fine-tuning only
RESUME_DIR = ".resume"  # per-train-step checkpoints that survive a kill (under runs/<suite>/)

StepRun = Callable[[Path, dict], dict | None]  # (temporary output dir, manifest extras) -> stats
RunKey = tuple[str, int]                       # (dataset, seed)


@dataclass
class Step:
    key: StepKey
    label: str
    run: StepRun
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
    b = PlanBuilder(suite, runs_dir, threads, progress, max_usd)
    b.add_world()
    b.add_datasets()
    b.add_base_model()
    b.add_eval_data()
    b.add_checkpoints()
    b.add_noise_floor()
    return b.plan()


class PlanBuilder:
    """The state the stages share: the store, the live roles, the steps so far and the keys later stages use."""

    def __init__(self, suite: Suite, runs_dir: Path, threads: int | None, progress: bool,
                 max_usd: float | None) -> None:
        self.suite = suite
        self.store = Store(runs_dir / suite.name)
        self.threads: int = threads or suite.threads
        self.progress = progress
        self.session = RoleSession(suite.roles, self.store.root, max_usd=max_usd, progress=progress)
        self.role_ids = {name: role_identity(name, getattr(suite.roles, name))
                         for name in ("teacher", "rater", "judge")}
        self.steps: list[Step] = []
        # set by the stages, in order
        self.world: StepKey
        self.pool_inputs: dict[str, Any]
        self.base: StepKey
        self.eval: evals.EvalData
        self.built: dict[str, StepKey] = {}
        self.judged: dict[RunKey, StepKey] = {}
        self.openllm: dict[RunKey, StepKey] = {}
        self.mt_bench: dict[RunKey, StepKey] = {}
        self.wildbench: dict[RunKey, StepKey] = {}

    def add(self, kind: str, name: str, config: dict, inputs: dict, run: StepRun, label: str,
            seed: int | None = None) -> StepKey:
        """Append one step; its key (kind, name, config, inputs) decides its output directory."""
        key = StepKey(kind, name, config, inputs)
        self.steps.append(Step(key, label, run, seed))
        return key

    def path(self, key: StepKey) -> Path:
        return self.store.path(key)

    def world_dir(self) -> Path:
        return self.store.path(self.world)

    def plan(self) -> Plan:
        return Plan(self.suite, self.store, self.steps, self.judged, self.built, self.session, self.openllm,
                    self.mt_bench, wildbench=self.wildbench)

    # -- suite-wide stages ------------------------------------------------------------------------------------

    def add_world(self) -> None:
        """The built-in world (pool, eval prompts, references); a file or hub pool adds its own identity."""
        from sftbench.datasets_builders.world import WORLD_VERSION
        suite = self.suite
        self.world = self.add("world", "world", {**suite.world.model_dump(mode="json"), "version": WORLD_VERSION},
                              {}, lambda out, _: steps.world_step(suite.world, out), "generate the built-in world")
        self.pool_inputs = {"world": self.world.hash}
        if suite.pool.source != "world":
            from sftbench.common.hashing import hash_local
            self.pool_inputs["pool"] = {"source": suite.pool.source, "revision": suite.pool.revision,
                                        "skip_bad_rows": suite.pool.skip_bad_rows,
                                        "content": hash_local(suite.pool.path, "pool.path") if suite.pool.path else None}

    def add_datasets(self) -> None:
        for ds in self.suite.datasets:
            self.built[ds.name] = self._add_build(ds)

    def _add_build(self, ds: DatasetSpec) -> StepKey:
        """One competing dataset; its key names the LLM roles and prompt texts its builder uses."""
        params = parse_params(ds.builder, ds.params).model_dump(mode="json")
        used = roles_used(ds.builder, params)
        config = {"builder": ds.builder, "params": params, "seed": DATA_SEED,
                  "roles": {r: self.role_ids[r] for r in used}, "prompts": prompt_ids(ds.builder, params)}

        def run(out: Path, _: dict) -> dict | None:
            return steps.build_step(ds, self.suite, self.world_dir(), {r: self.session.get(r) for r in used}, out,
                                    DATA_SEED, self.progress)
        return self.add("build", ds.name, config, self.pool_inputs, run, f"build dataset {ds.name} ({ds.builder})",
                        DATA_SEED)

    def add_base_model(self) -> None:
        self.base = self._add_tiny_base() if self.suite.base_model.kind == "tiny" else self._add_real_base()

    def _add_tiny_base(self) -> StepKey:
        """A BPE tokenizer and a tiny Llama pretrained on the pool's text."""
        from sftbench.suites.models.tiny_model import TinyModelConfig
        suite = self.suite
        tok = self.add("tokenizer", "bpe", suite.base_model.tokenizer.model_dump(), self.pool_inputs,
                       lambda out, _: _tokenizer(suite, self.world_dir(), out), "train the BPE tokenizer")
        model_cfg = TinyModelConfig.model_validate(suite.base_model.config)
        return self.add("pretrain", "tiny-llama", {"model": model_cfg.model_dump(mode="json"),
                                                   "pretrain": suite.base_model.pretrain.model_dump()},
                        {"tokenizer": tok.hash, **self.pool_inputs},
                        lambda out, _: _pretrain(suite, model_cfg, self.world_dir(), self.path(tok), out,
                                                 self.threads, self.progress),
                        "pretrain the base model", 0)

    def _add_real_base(self) -> StepKey:
        """A real base model (HF id at a pinned revision, local directory, GGUF) materialised once as safetensors."""
        from sftbench.suites.models.base_models import materialize
        from sftbench.common.hashing import hash_dir
        ref = self.suite.base_model.ref()
        inputs = {"local_content": hash_dir(ref.path)} if ref.kind == "local" else {}
        return self.add("base", ref.kind, ref.identity(), inputs, lambda out, _: {"stats": materialize(ref, out)},
                        f"materialise base model ({ref.kind})", 0)

    def add_eval_data(self) -> None:
        self.eval = evals.add_eval_data(self)

    def add_checkpoints(self) -> None:
        """Per dataset and training seed: fine-tune, then every evaluation the suite asks for."""
        wb_inputs = evals.wildbench_inputs(self.suite.evaluation.wildbench)
        for ds in self.suite.datasets:
            for seed in self.suite.seeds:
                self._add_checkpoint(ds.name, seed, wb_inputs)

    def _add_checkpoint(self, dataset: str, seed: int, wb_inputs: dict[str, Any]) -> None:
        ev, run_name, key = self.suite.evaluation, f"{dataset}-s{seed}", (dataset, seed)
        train = self._add_train(dataset, seed, run_name)
        if ev.openllm is not None:
            self.openllm[key] = evals.add_openllm(self, ev.openllm, train, run_name, seed)
        if ev.mt_bench.enabled:
            self.mt_bench[key] = evals.add_mt_bench(self, ev.mt_bench, train, run_name, seed)
        if ev.wildbench.enabled:
            self.wildbench[key] = evals.add_wildbench(self, ev.wildbench, wb_inputs, train, run_name, seed)
        outs = evals.add_generate(self, train, run_name, seed)
        self.judged[key] = evals.add_judge(self, outs, run_name, seed)

    def _add_train(self, dataset: str, seed: int, run_name: str) -> StepKey:
        """Fine-tune the base model on one dataset; `select: best_heldout` adds the held-out set to the key."""
        recipe, template = resolved_recipe_and_template(self.suite, seed)
        data = self.built[dataset]
        config = {"recipe": recipe.model_dump(mode="json"), "template": template}
        inputs = {"base": self.base.hash, "data": data.hash}
        heldout: Callable[[Path], Any] | None = None
        if recipe.select == "best_heldout":  # only then: the hashes of select: last steps stay as they were
            from sftbench.suites.evaluations.heldout import metric as ho
            config.update(heldout=ho.config(self.suite), judge=self.role_ids["judge"])
            inputs.update(ho.inputs(self.suite.evaluation.heldout, self.world.hash))
            heldout = self._heldout_metric(data, run_name)
        resume = self.store.root / RESUME_DIR / StepKey("train", run_name, config, inputs).dirname
        return self.add("train", run_name, config, inputs,
                        lambda out, _: _train(self.store, self.base, data, recipe, template, out, self.threads,
                                              self.progress, resume, heldout),
                        f"fine-tune on {dataset} (seed {seed})", seed)

    def _heldout_metric(self, data: StepKey, run_name: str) -> Callable[[Path], Any]:
        """select: best_heldout: makes the held-out metric, at run time, from the train step's log directory."""
        from sftbench.suites.evaluations.heldout import metric as ho
        return lambda log_dir: ho.metric_for(self.suite, self.world_dir(), self.path(data), self.session.get("judge"),
                                             self.threads, log_dir, run_name)

    def add_noise_floor(self) -> None:
        if self.suite.leaderboard.noise_floor_sample and self.judged:
            evals.add_noise_floor(self, list(self.judged.values()))


def _tokenizer(suite: Suite, world_dir: Path, out: Path) -> dict:
    from sftbench.datasets_builders.world import pool_text
    from sftbench.suites.models.tokenizer_train import train_tokenizer
    texts = list(pool_text(steps.load_pool(suite, world_dir)))
    train_tokenizer(texts, suite.base_model.tokenizer.vocab_size, out)
    return {"texts": len(texts)}


def _pretrain(suite: Suite, cfg: Any, world_dir: Path, tok_dir: Path, out: Path, threads: int,
              progress: bool) -> dict:
    from sftbench.datasets_builders.world import pool_text
    from sftbench.suites.models.tiny_model import pretrain_base
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
    from sftbench.suites.models.train import sft_train
    metric = heldout(resume_dir) if heldout is not None else None
    stats = sft_train(store.path(base), steps.sft_rows(store.path(data)), recipe, template, out,
                      threads=threads, progress=progress, resume_dir=resume_dir, heldout_metric=metric)
    return {"stats": metric.annotate(stats, out) if metric is not None else stats}
