"""From a suite to an ordered list of steps, each keyed by a hash of its config and its inputs' hashes.

`make_plan` runs the stages in order: the world, the datasets, the base model, then every registered evaluation's
suite-wide steps, then per (dataset, seed) a checkpoint and each evaluation's steps for it, then each evaluation's
closing steps. Steps are data (suites/engine/step.py): nothing here holds a live object. Step keys, labels, seeds
and order are part of every user's cache: changing them re-runs work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftbench.datasets_builders.registry import parse_params, prompt_ids, roles_used
from sftbench.suites.engine.roles import role_identity
from sftbench.suites.engine.schema import BASE_ROW, DatasetSpec, Suite
from sftbench.suites.engine.step import Step
from sftbench.suites.engine.store import StepKey, Store
from sftbench.suites.evaluations import registered
from sftbench.suites.evaluations.protocol import Checkpoint, Evaluation

DATA_SEED = 0  # datasets are built once; training seeds vary the fine-tuning only
RunKey = tuple[str, int]  # (dataset, seed)


@dataclass
class Plan:
    suite: Suite
    store: Store
    steps: list[Step]
    built: dict[str, StepKey]                                 # dataset -> build step
    trained: dict[RunKey, StepKey]                            # (dataset, seed) -> train step
    results: dict[RunKey, dict[str, StepKey]]                 # (dataset, seed) -> evaluation -> its result step
    finals: dict[str, StepKey] = field(default_factory=dict)  # evaluation -> its closing step (noise floor)
    base: StepKey | None = None                               # the base model (pretrain or base step)
    untuned: dict[str, StepKey] = field(default_factory=dict)  # include_base: evaluation -> the base's result step
    checked: dict[str, StepKey] = field(default_factory=dict)  # dataset -> its contamination check
    training_data: dict[str, StepKey] = field(default_factory=dict)  # dataset -> the step training reads (build, or
    #                                                                   its contam step with decontaminate)
    view: Path = Path("runs")                                 # runs/<suite>: links to the steps, results, leaderboard
    threads: int = 1
    progress: bool = True
    max_usd: float | None = None

    def step(self, key: StepKey) -> Step:
        """The planned step of a key."""
        return self._index()[key.dirname]

    def step_by_dir(self, dirname: str) -> Step | None:
        return self._index().get(dirname)

    def _index(self) -> dict[str, Step]:
        if not hasattr(self, "_by_dir"):
            self._by_dir = {s.key.dirname: s for s in self.steps}
        return self._by_dir


def make_plan(suite: Suite, runs_dir: Path, threads: int | None = None, progress: bool = True,
              max_usd: float | None = None, store: str | Path | None = None) -> Plan:
    """The plan of `suite`; its steps live in `store` (default: SFTBENCH_STORE or the user's cache, see
    suites/engine/view.py) and `runs_dir/<suite>` shows them."""
    b = PlanBuilder(suite, runs_dir, threads, progress, max_usd, store)
    b.add_world()
    b.add_datasets()
    b.add_base_model()
    b.add_evaluations()
    return b.plan()


def enabled_evaluations(suite: Suite) -> list[tuple[Evaluation, Any]]:
    """(plugin, its suite section) of every evaluation the suite turns on, in plan order."""
    out = []
    for plugin in registered():
        spec = suite.evaluation_section(plugin.name)
        if plugin.enabled(spec):
            out.append((plugin, spec))
    return out


class PlanBuilder:
    """The state the stages share: the store, role identities, the steps so far and the keys later stages use."""

    def __init__(self, suite: Suite, runs_dir: Path, threads: int | None, progress: bool,
                 max_usd: float | None, store: str | Path | None = None) -> None:
        from sftbench.suites.engine.view import store_root
        self.suite = suite
        self.store = Store(store_root(store))
        self.view = Path(runs_dir) / suite.name
        self.threads: int = threads or suite.threads
        self.progress, self.max_usd = progress, max_usd
        self.role_ids = {name: role_identity(name, getattr(suite.roles, name)) for name in ("teacher", "rater", "judge")}
        self.roles_args = suite.roles.model_dump(mode="json")  # what a step needs to build live roles
        self.steps: list[Step] = []
        self.world: StepKey
        self.pool_inputs: dict[str, Any]
        self.base: StepKey
        self.built: dict[str, StepKey] = {}
        self.trained: dict[RunKey, StepKey] = {}
        self.results: dict[RunKey, dict[str, StepKey]] = {}
        self.untuned: dict[str, StepKey] = {}
        self.checked: dict[str, StepKey] = {}
        self.training_data: dict[str, StepKey] = {}
        self.finals: dict[str, StepKey] = {}
        self.evaluations = enabled_evaluations(suite)

    def add(self, kind: str, name: str, config: dict, inputs: dict, label: str, seed: int | None = None,
            deps: dict[str, StepKey] | None = None, args: dict[str, Any] | None = None,
            module: str | None = None) -> StepKey:
        """Append one step; its key (kind, name, config, inputs) decides its output directory. `deps`: the steps
        whose directories its body reads, by input name; `args`: JSON run parameters outside the key."""
        key = StepKey(kind, name, config, inputs)
        self.steps.append(Step(key, label, seed, {n: k.dirname for n, k in (deps or {}).items()}, args or {},
                               module))
        return key

    def path(self, key: StepKey) -> Path:
        return self.store.path(key)

    def plan(self) -> Plan:
        return Plan(self.suite, self.store, self.steps, self.built, self.trained, self.results, self.finals,
                    self.base, self.untuned, self.checked, self.training_data, self.view, self.threads,
                    self.progress, self.max_usd)

    def add_world(self) -> None:
        """The built-in world (pool, eval prompts, references); a file or hub pool adds its own identity."""
        from sftbench.datasets_builders.world import WORLD_VERSION
        suite = self.suite
        self.world = self.add("world", "world", {**suite.world.model_dump(mode="json"), "version": WORLD_VERSION},
                              {}, "generate the built-in world")
        self.pool_inputs = {"world": self.world.hash}
        if suite.pool.source != "world":
            from sftbench.common.hashing import hash_local
            self.pool_inputs["pool"] = {"source": suite.pool.source, "revision": suite.pool.revision,
                                        "skip_bad_rows": suite.pool.skip_bad_rows,
                                        "content": hash_local(suite.pool.path, "pool.path") if suite.pool.path else None}

    def add_datasets(self) -> None:
        for ds in self.suite.datasets:
            self.built[ds.name] = self.training_data[ds.name] = self._add_build(ds)

    def _add_build(self, ds: DatasetSpec) -> StepKey:
        """One competing dataset; its key names the LLM roles and prompt texts its builder uses."""
        params = parse_params(ds.builder, ds.params).model_dump(mode="json")
        used = roles_used(ds.builder, params)
        config = {"builder": ds.builder, "params": params, "seed": DATA_SEED,
                  "roles": {r: self.role_ids[r] for r in used}, "prompts": prompt_ids(ds.builder, params, self.suite.roles.providers())}
        args = {"builder": ds.builder, "params": ds.params, "pool": self.suite.pool.model_dump(mode="json"),
                "roles": self.roles_args, "uses": list(used)}
        return self.add("build", ds.name, config, self.pool_inputs, f"build dataset {ds.name} ({ds.builder})",
                        DATA_SEED, deps={"world": self.world}, args=args)

    def add_base_model(self) -> None:
        self.base = self._add_tiny_base() if self.suite.base_model.kind == "tiny" else self._add_real_base()

    def _add_tiny_base(self) -> StepKey:
        """A BPE tokenizer and a tiny Llama pretrained on the pool's text."""
        from sftbench.suites.models.tiny_config import TinyModelConfig
        bm, pool = self.suite.base_model, {"pool": self.suite.pool.model_dump(mode="json")}
        tok = self.add("tokenizer", "bpe", bm.tokenizer.model_dump(), self.pool_inputs, "train the BPE tokenizer",
                       deps={"world": self.world}, args=pool)
        model_cfg = TinyModelConfig.model_validate(bm.config)
        return self.add("pretrain", "tiny-llama", {"model": model_cfg.model_dump(mode="json"),
                                                   "pretrain": bm.pretrain.model_dump()},
                        {"tokenizer": tok.hash, **self.pool_inputs}, "pretrain the base model", 0,
                        deps={"tokenizer": tok, "world": self.world}, args=pool)

    def _add_real_base(self) -> StepKey:
        """A real base model (HF id at a pinned revision, local directory, GGUF) materialised once as safetensors."""
        from sftbench.common.hashing import hash_dir
        ref = self.suite.base_model.ref()
        inputs = {"local_content": hash_dir(ref.path)} if ref.kind == "local" else {}
        return self.add("base", ref.kind, ref.identity(), inputs, f"materialise base model ({ref.kind})", 0)

    def add_evaluations(self) -> None:
        """Each evaluation's suite-wide steps, then per (dataset, seed) a checkpoint and its evaluations, then each
        evaluation's closing steps."""
        shared = {plugin.name: plugin.prepare(self, spec) for plugin, spec in self.evaluations}
        self._add_contamination_checks(shared)
        for ds in self.suite.datasets:
            for seed in self.suite.seeds:
                run_name = f"{ds.name}-s{seed}"
                train = self._add_train(ds.name, seed, run_name)
                ckpt = Checkpoint(ds.name, seed, run_name, train)
                self.trained[(ds.name, seed)] = train
                done = self.results.setdefault((ds.name, seed), {})
                for plugin, spec in self.evaluations:
                    key = plugin.add_checkpoint(self, spec, shared[plugin.name], ckpt)
                    if key is not None:
                        done[plugin.name] = key
        if getattr(self.suite.evaluation, "include_base", False):
            self._add_untuned_base(shared)
        for plugin, spec in self.evaluations:  # the untuned base stays out: its steps change no other key
            per_run = {run: keys[plugin.name] for run, keys in self.results.items() if plugin.name in keys}
            final = plugin.finish(self, spec, shared[plugin.name], per_run)
            if final is not None:
                self.finals[plugin.name] = final

    def _add_contamination_checks(self, shared: dict[str, Any]) -> None:
        """Every dataset against every evaluation's prompts (a `contam` step each); a dataset with `decontaminate`
        trains on that step's output instead of its build's."""
        sources = {plugin.name: (plugin, spec, plugin.prompt_source(self, spec, shared[plugin.name]))
                   for plugin, spec in self.evaluations}
        sources = {name: found for name, found in sources.items() if found[2] is not None}
        if not sources:
            asked = [ds.name for ds in self.suite.datasets if ds.decontaminate]
            if asked:
                raise ValueError(f"datasets {asked}: decontaminate needs an evaluation with prompts to check against "
                                 "(alpaca_eval, mt_bench or wildbench); OpenLLM's tasks are not checked. Enable one, "
                                 "or drop decontaminate")
            return
        deps = {f"{name}.{local}": key for name, (_, _, src) in sources.items() for local, key in src.deps.items()}
        identity = {name: src.identity for name, (_, _, src) in sources.items()}
        args = {"sources": {name: {"spec": spec.model_dump(mode="json"), "args": src.args,
                                   "inputs": {local: f"{name}.{local}" for local in src.deps}}
                            for name, (_, spec, src) in sources.items()}}
        for ds in self.suite.datasets:
            build = self.built[ds.name]
            key = self.add("contam", ds.name, {"n": 13, "decontaminate": ds.decontaminate, "version": 1},
                           {"data": build.hash, "evaluations": identity},
                           f"{'decontaminate' if ds.decontaminate else 'contamination check of'} {ds.name}",
                           deps={"data": build, **deps}, args=args)
            self.checked[ds.name] = key
            if ds.decontaminate:
                self.training_data[ds.name] = key

    def _add_untuned_base(self, shared: dict[str, Any]) -> None:
        """`evaluation.include_base`: the base model, untuned, evaluated through the suite's template and decoding
        like every fine-tuned checkpoint (its row shows what fine-tuning adds)."""
        assert self.base is not None
        model = self.add("untuned", "base", {"template": self.suite.template}, {"base": self.base.hash},
                         "the untuned base model with the suite's chat template", 0, deps={"base": self.base})
        ckpt = Checkpoint(BASE_ROW, 0, BASE_ROW, model)
        for plugin, spec in self.evaluations:
            key = plugin.add_checkpoint(self, spec, shared[plugin.name], ckpt)
            if key is not None:
                self.untuned[plugin.name] = key

    def _add_train(self, dataset: str, seed: int, run_name: str) -> StepKey:
        """Fine-tune the base model on one dataset; a `recipe.select` served by an evaluation (best_heldout) adds
        that evaluation's metric to the key."""
        recipe = self.suite.recipe_for(seed)
        data = self.training_data[dataset]
        # where logs go and how many processes train stay out of the key (recipes.LOGGING_FIELDS)
        config = {"recipe": recipe.result_fields(), "template": self.suite.template}
        inputs = {"base": self.base.hash, "data": data.hash}
        deps = {"base": self.base, "data": data}
        args: dict[str, Any] = {"report_to": list(recipe.report_to), "workers": recipe.gpus_per_run}
        if recipe.select != "last":  # only then: the hashes of select: last steps stay as they were
            selection = self._selection(recipe, data)
            config.update(selection.config)
            inputs.update(selection.inputs)
            deps.update(selection.deps)
            args["selection"] = {"factory": selection.factory, "params": selection.params}
        return self.add("train", run_name, config, inputs, f"fine-tune on {dataset} (seed {seed})", seed,
                        deps=deps, args=args)

    def _selection(self, recipe: Any, data: StepKey) -> Any:
        for plugin in registered():
            spec = self.suite.evaluation_section(plugin.name)
            selection = plugin.train_selection(self, spec, recipe, data)
            if selection is not None:
                return selection
        raise ValueError(f"recipe.select {recipe.select!r}: no registered evaluation serves it")
