"""The suite file's typed schema. Precedence: CLI overrides > suite file > the defaults written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sftbench.datasets_builders.registry import BUILDERS, parse_params
from sftbench.common.suggest import unknown_name_message
from sftbench.judges.wildbench.reward import DEFAULT_K
from sftbench.suites.evaluations.openllm.catalog import OpenLLMConfig
from sftbench.suites.engine.roles import RolesSpec, role_errors
from sftbench.suites.engine.yaml_source import SuiteError, YamlSource, format_loc, load_yaml


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorldSpec(Strict):
    """The built-in world: pool, curated set and held-out eval prompts, all generated from seeds."""
    pool_size: int = Field(20000, ge=20)
    curated_size: int = Field(1000, ge=10)
    eval_prompts: int = Field(200, ge=5)
    composition_frac: float = Field(0.3, ge=0, le=1)
    seed: int = 0


class PoolSpec(Strict):
    """`world`, a local `file` (JSON/JSONL/parquet, optionally .gz; Alpaca, ShareGPT or messages rows), or a hub
    source at a pinned `revision` (`path` = a local copy of it, for offline use)."""
    source: Literal["world", "file", "alpaca", "evol_instruct_70k", "lima", "ism_sda", "ism_sda_1k",
                    "ism_sda_heldout"] = "world"
    path: Path | None = None
    revision: str | None = None
    skip_bad_rows: bool = False

    @model_validator(mode="after")
    def _path_for_file(self) -> "PoolSpec":
        if self.source == "file" and self.path is None:
            raise ValueError("pool.source 'file' needs pool.path (a JSON/JSONL/parquet file of rows)")
        return self


class TokenizerSpec(Strict):
    vocab_size: int = Field(2048, ge=300)


class PretrainSpec(Strict):
    steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)
    seq_len: int = Field(128, ge=16)
    lr: float = Field(3e-3, gt=0)


class BaseModelSpec(Strict):
    """`tiny`: a Llama-architecture model from `config`, with a BPE tokenizer trained on the pool, pretrained briefly.
    `hf` (id + pinned revision), `local` (a model directory) or `gguf` (a file, or 'smollm2'): a real model,
    materialised once as safetensors (suites/base_models.py)."""
    kind: Literal["tiny", "hf", "local", "gguf"] = "tiny"
    tokenizer: TokenizerSpec = TokenizerSpec()
    config: dict[str, Any] = Field(default_factory=dict, description="TinyModelConfig fields")
    pretrain: PretrainSpec = PretrainSpec()
    id: str | None = None
    revision: str | None = None
    path: Path | None = None
    trust_remote_code: bool = False
    allow_unpinned: bool = False

    def ref(self) -> Any:
        """The BaseModelRef of a non-tiny base model."""
        from sftbench.suites.models.base_models import BaseModelRef
        return BaseModelRef(kind=self.kind, id=self.id, revision=self.revision, path=self.path,
                            trust_remote_code=self.trust_remote_code, allow_unpinned=self.allow_unpinned)


class DatasetSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    builder: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("builder")
    @classmethod
    def _known_builder(cls, name: str) -> str:
        if name not in BUILDERS:
            raise ValueError(unknown_name_message("builder", name, BUILDERS))
        return name


class GenerationSpec(Strict):
    """Greedy decoding of every checkpoint's answers (AlpacaEval, MT-Bench, WildBench)."""
    max_new_tokens: int = Field(96, ge=1)
    batch_size: int = Field(32, ge=1)
    backend: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="auto: vLLM's offline engine when installed and a GPU is present, else transformers")

    def backend_param(self) -> dict[str, str]:
        """The backend as a step-key parameter of the answering steps; nothing for `auto`, so keys from before
        the field existed still match."""
        return {} if self.backend == "auto" else {"backend": self.backend}


class AlpacaEvalSpec(Strict):
    """Pairwise judging against a baseline, win rate and length-controlled win rate.

    `eval_set: world`: the built-in world's held-out prompts against its reference answers, judged by any judge
    role (the embedded default). `eval_set: alpaca_eval_2`: the real AlpacaEval 2.0 set (805 instructions against
    gpt4_1106_preview) judged by `annotator` (an alpaca_eval annotator config, default
    weighted_alpaca_eval_gpt4_turbo) run over `roles.judge`, which must be an LLM."""
    enabled: bool = Field(True, description="always on: the leaderboard's rows are these pairwise judgments")
    eval_set: Literal["world", "alpaca_eval_2"] = "world"
    randomize_order: bool = Field(True, description="world eval set only (alpaca_eval configs set their own)")
    glm: Literal["length_controlled_v1", "length_controlled_noreg", "length_controlled_minimal"] = \
        "length_controlled_v1"
    annotator: str = Field("weighted_alpaca_eval_gpt4_turbo", description="alpaca_eval annotator config name")
    source: Literal["github", "hub"] = Field("github", description="where the 805 rows come from when data_path "
                                             "is not given: alpaca_eval's GitHub file at a pinned commit (sha256-"
                                             "checked) or the hub dataset tatsu-lab/alpaca_eval")
    data_path: Path | None = Field(None, description="local model_outputs.json[.gz] / alpaca_eval_gpt4_baseline.json")
    df_gamed: Path | None = Field(None, description="local df_gamed.csv (the LC GLM's anchor); default: the hub's")
    max_instances: int | None = Field(None, ge=5, description="first N instructions only (cheap runs; df_gamed is "
                                      "sliced to match); None = all 805")

    @field_validator("enabled")
    @classmethod
    def _always_on(cls, on: bool) -> bool:
        if not on:
            raise ValueError("cannot be turned off: the leaderboard's rows are the AlpacaEval judgments (MT-Bench, "
                             "WildBench and OpenLLM add columns to them); cut its cost with eval_set: world or "
                             "max_instances instead")
        return on

    @field_validator("annotator")
    @classmethod
    def _known_annotator(cls, name: str) -> str:
        from sftbench.judges.alpaca_eval.configs import available_annotators
        known = available_annotators()
        if name not in known:
            raise ValueError(unknown_name_message("alpaca_eval annotator config", name, known))
        return name


class MTBenchSpec(Strict):
    """MT-Bench (80 two-turn questions, single-answer grading by `roles.judge`, which must be an LLM)."""
    enabled: bool = False
    data_dir: Path | None = Field(None, description="local question/reference/judge-prompt files; default: the "
                                  "pinned FastChat files, downloaded and sha256-checked")
    max_new_tokens: int = Field(512, ge=1)
    batch_size: int = Field(16, ge=1)


class WildBenchSpec(Strict):
    """WildBench v2 (real-user tasks, checklist-guided grading by `roles.judge`, which must be an LLM): WB-Score,
    plus WB-Reward against each reference model in `references`."""
    enabled: bool = False
    tasks_path: Path | None = Field(None, description="local tasks file (JSON/JSONL/parquet, hub fields); default: "
                                    "the pinned hub dataset allenai/WildBench (v2, test)")
    templates_dir: Path | None = Field(None, description="folder with eval_template.{score,pairwise}.v2.md; "
                                       "default: the pinned GitHub files, downloaded and sha256-checked")
    references: dict[str, Path | None] = Field(default_factory=dict, description="reference model (gpt4t, haiku, "
                                               "llama or a hub outputs config) -> local outputs file (null: the "
                                               "hub's); empty: WB-Score only")
    K: int = Field(DEFAULT_K, ge=-1, description="WB-Reward length penalty in characters; -1 = none")
    max_tasks: int | None = Field(None, ge=1, description="only the first N tasks in file order (cheap runs)")
    max_new_tokens: int = Field(1024, ge=1)
    batch_size: int = Field(8, ge=1)


class HeldoutSpec(Strict):
    """Held-out prompts `recipe.select: best_heldout` picks the best epoch by (suites/heldout.py): `world` (fresh
    world prompts, disjoint from the eval prompts and the pool), `sidecar` (each dataset's `heldout.jsonl`, e.g.
    skillmix's `params.heldout`) or `file` (`path`: rows of instruction + output, the reference answers)."""
    source: Literal["world", "sidecar", "file"] = "world"
    path: Path | None = None
    n: int = Field(100, ge=1, description="use the first n held-out prompts")
    max_new_tokens: int | None = Field(None, ge=1, description="default: generation.max_new_tokens")

    @model_validator(mode="after")
    def _path_for_file(self) -> "HeldoutSpec":
        if self.source == "file" and self.path is None:
            raise ValueError("evaluation.heldout.source 'file' needs evaluation.heldout.path (JSON/JSONL rows of "
                             "instruction + output)")
        return self


class EvaluationSpec(Strict):
    alpaca_eval: AlpacaEvalSpec = AlpacaEvalSpec()
    heldout: HeldoutSpec = HeldoutSpec()
    mt_bench: MTBenchSpec = MTBenchSpec()
    wildbench: WildBenchSpec = WildBenchSpec()
    openllm: OpenLLMConfig | None = Field(None, description="lm-evaluation-harness tasks on every checkpoint")


class LeaderboardSpec(Strict):
    reference: str | None = Field(None, description="dataset the others are compared against (default: the first)")
    sort_by: Literal["lc_win_rate", "win_rate", "name"] = "lc_win_rate"
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the verdicts (Holm-adjusted)")
    n_bootstrap: int = Field(200, ge=2, description="win-rate bootstrap resamples")
    n_bootstrap_lc: int = Field(50, ge=0, description="LC resamples, each refits the GLM per seed; 0 = no LC CIs")
    n_permutations: int = Field(10000, ge=100, description="sign-flip permutations of the paired test")
    seed: int = Field(0, description="RNG seed of the resampling and of the noise-floor sample")
    noise_floor_sample: int = Field(50, ge=0, description="annotations re-judged for the judge-noise floor; 0 = off")

    @field_validator("n_bootstrap_lc")
    @classmethod
    def _lc_resamples(cls, n: int) -> int:
        if n == 1:
            raise ValueError("n_bootstrap_lc must be 0 (no LC CIs) or at least 2")
        return n


class Suite(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    threads: int = Field(1, ge=1)
    world: WorldSpec = WorldSpec()
    pool: PoolSpec = PoolSpec()
    base_model: BaseModelSpec = BaseModelSpec()
    recipe: dict[str, Any] = Field(default_factory=dict,
                                   description="suites.train.Recipe fields, or `preset: NAME` plus overrides")
    template: str | None = Field(None, description="chat template; default: the recipe preset's, else alpaca")
    datasets: list[DatasetSpec] = Field(min_length=1)
    roles: RolesSpec = RolesSpec()
    generation: GenerationSpec = GenerationSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    leaderboard: LeaderboardSpec = LeaderboardSpec()

    @model_validator(mode="after")
    def _unique_names(self) -> "Suite":
        names = [d.name for d in self.datasets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dataset names must be unique; repeated: {dupes}")
        if self.evaluation.mt_bench.enabled and self.roles.judge.provider == "world":
            raise ValueError("evaluation.mt_bench needs an LLM judge: set roles.judge to an LLM provider")
        if self.evaluation.wildbench.enabled and self.roles.judge.provider == "world":
            raise ValueError("evaluation.wildbench needs an LLM judge: set roles.judge to an LLM provider")
        if self.evaluation.alpaca_eval.eval_set == "alpaca_eval_2" and self.roles.judge.provider == "world":
            raise ValueError("evaluation.alpaca_eval.eval_set 'alpaca_eval_2' needs an LLM judge: set roles.judge to "
                             "an LLM provider (the world verifier judges world prompts only)")
        if self.leaderboard.reference and self.leaderboard.reference not in names:
            raise ValueError(unknown_name_message("leaderboard.reference dataset", self.leaderboard.reference, names))
        if self.evaluation.heldout.source == "sidecar":
            _check_heldout_sidecars(self)
        return self


def _check_heldout_sidecars(suite: "Suite") -> None:
    """select: best_heldout with heldout.source 'sidecar' needs every dataset's builder to write a `heldout` sidecar."""
    from sftbench.datasets_builders.registry import sidecars
    from sftbench.suites.models.recipes import recipe_fields
    try:
        if recipe_fields(suite.recipe).get("select") != "best_heldout":
            return
    except ValueError:
        return  # an unknown preset: reported by _nested_checks
    for ds in suite.datasets:
        try:
            if "heldout" in sidecars(ds.builder, ds.params):
                continue
        except ValidationError:
            continue  # bad params: reported by _nested_checks
        fix = ("set its params.heldout (e.g. 100)" if ds.builder == "skillmix" else
               "its builder writes no held-out set")
        raise ValueError(f"recipe.select best_heldout with evaluation.heldout.source 'sidecar' needs a held-out "
                         f"sidecar from every dataset, but dataset '{ds.name}' ({ds.builder}) has none: {fix}; or "
                         "use evaluation.heldout.source 'world' or 'file'")


def _set_path(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value


def _nested_checks(suite: Suite) -> list[tuple[tuple, str]]:
    """Checks that need another component's schema: builder params, recipe, model config, template name."""
    from sftbench.suites.models.tiny_model import TinyModelConfig
    from sftbench.suites.models.chat_templates import get_template
    from sftbench.suites.models.recipes import resolve_recipe, resolve_template

    problems: list[tuple[tuple, str]] = []
    for i, spec in enumerate(suite.datasets):
        try:
            parse_params(spec.builder, spec.params)
        except ValidationError as exc:
            problems += [(("datasets", i, "params", *e["loc"]), e["msg"]) for e in exc.errors()]
    try:
        TinyModelConfig.model_validate(suite.base_model.config)
        if suite.base_model.kind != "tiny":
            suite.base_model.ref()
    except ValidationError as exc:
        loc = ("base_model", "config") if suite.base_model.kind == "tiny" else ("base_model",)
        problems += [((*loc, *e["loc"]), e["msg"]) for e in exc.errors()]
    try:
        recipe = resolve_recipe(suite.recipe)
    except ValidationError as exc:
        return problems + [(("recipe", *e["loc"]), e["msg"]) for e in exc.errors()]
    except ValueError as exc:  # unknown preset
        return problems + [(("recipe", "preset"), str(exc))]
    try:
        get_template(resolve_template(recipe, suite.template))
    except ValueError as exc:
        problems.append((("template",), str(exc)))
    return problems + role_errors(suite.roles)


def load_suite(path: str | Path, overrides: dict[str, Any] | None = None) -> Suite:
    """Parse and fully validate a suite file; the first problem raises SuiteError with file, line and field."""
    source: YamlSource = load_yaml(path)
    data = source.data
    for dotted, value in (overrides or {}).items():
        _set_path(data, dotted, value)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _located(source, first["loc"], first["msg"]) from None
    problems = _nested_checks(suite)
    if problems:
        loc, msg = problems[0]
        raise _located(source, loc, msg)
    return suite


def resolved_recipe_and_template(suite: Suite, seed: int) -> tuple[Any, str]:
    """The Recipe for one training seed and the chat template the whole suite uses."""
    from sftbench.suites.models.recipes import resolve_recipe, resolve_template
    recipe = resolve_recipe(suite.recipe, seed=seed)
    return recipe, resolve_template(recipe, suite.template)


def _located(source: YamlSource, loc: tuple, msg: str) -> SuiteError:
    msg = msg.removeprefix("Value error, ")
    if msg == "Extra inputs are not permitted":
        msg = f"unknown field '{loc[-1]}' (remove it or check its spelling)"
    return SuiteError(source.path, source.line_of(loc), format_loc(loc), msg)


def shipped_suites() -> dict[str, Path]:
    return {p.stem: p for p in sorted(Path(__file__).parents[1].glob("*.yaml"))}


def resolve_suite_path(name_or_path: str | None) -> Path:
    """A path to a YAML file, or the name of a shipped suite (default: quickstart)."""
    if name_or_path is None:
        return shipped_suites()["quickstart"]
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = shipped_suites()
    if name_or_path in shipped:
        return shipped[name_or_path]
    raise SuiteError(name_or_path, None, "", unknown_name_message("suite", name_or_path, shipped))
