"""The suite file's typed schema. Precedence: CLI overrides > suite file > the defaults written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, create_model, field_validator, model_validator

from sftbench.common.config import LocalPath, Strict
from sftbench.common.suggest import unknown_name_message
from sftbench.datasets_builders.registry import BUILDERS, parse_params, role_problems
from sftbench.suites.engine.roles import RolesSpec, role_errors
from sftbench.suites.engine.yaml_source import SuiteError, YamlSource, format_loc, load_yaml
from sftbench.suites.models.recipes import Recipe, recipe_fields, resolve_template


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
    path: LocalPath | None = None
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
    decontaminate: bool = Field(False, description="drop the rows that overlap the suite's evaluation prompts "
                                "(exact or 13-gram) before training; the card records them")

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


BASE_ROW = "untuned-base"  # the leaderboard row of `evaluation.include_base` (no dataset may take its name)


class LeaderboardSpec(Strict):
    reference: str | None = Field(None, description="dataset the others are compared against (default: the first)")
    sort_by: str = Field("lc_win_rate", description="row order: a column key (lc_win_rate, mt_bench.score, ...) or "
                         "name; a key no table has falls back to the first evaluation's headline column")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the verdicts (Holm-adjusted)")
    n_bootstrap: int = Field(200, ge=2, description="win-rate bootstrap resamples")
    n_bootstrap_lc: int = Field(50, ge=0, description="LC resamples, each refits the GLM per seed; 0 = no LC CIs")
    n_permutations: int = Field(10000, ge=100, description="sign-flip permutations of the paired test")
    seed: int = Field(0, description="RNG seed of the resampling and of the noise-floor sample")
    noise_floor_sample: int = Field(50, ge=0, description="annotations re-judged for the judge-noise floor; 0 = off")
    equivalence_margin: dict[str, float] = Field(default_factory=dict, description="column (alpaca_eval.lc_win_rate, "
                                                 "or a bare key) -> margin in its points: adds a TOST equivalence "
                                                 "verdict against the reference")
    gate: list[str] | None = Field(None, description="columns or whole evaluations `sftbench compare` fails on "
                                   "(mt_bench, alpaca_eval.lc_win_rate, ...); default: every tested column")
    points_per_usd: bool = Field(False, description="add a column: the headline gain over the reference divided by "
                                 "the LLM $ of building the dataset")
    holm_family: Literal["evaluation", "table", "leaderboard"] = Field(
        "evaluation", description="Holm's correction over each evaluation's comparisons, over every comparison "
        "of a table (all evaluations and columns at once), or of the whole leaderboard (every base model's table)")

    @field_validator("equivalence_margin")
    @classmethod
    def _positive_margins(cls, margins: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in margins.items() if not v > 0}
        if bad:
            raise ValueError(f"equivalence margins must be > 0, got {bad}")
        return margins

    @field_validator("n_bootstrap_lc")
    @classmethod
    def _lc_resamples(cls, n: int) -> int:
        if n == 1:
            raise ValueError("n_bootstrap_lc must be 0 (no LC CIs) or at least 2")
        return n


class Suite(Strict):
    """A parsed suite: every section typed, the recipe preset resolved into the Recipe, the chat template resolved,
    and `evaluation` holding one typed section per registered evaluation (the Suite class `load_suite` returns is
    built from the registry: see `suite_model`)."""
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    plugins: list[str] = Field(default_factory=list, description="modules of evaluation plugins outside sftbench, "
                               "imported before the suite is validated")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    threads: int = Field(1, ge=1)
    world: WorldSpec = WorldSpec()
    pool: PoolSpec = PoolSpec()
    base_model: BaseModelSpec = BaseModelSpec()
    recipe: Recipe = Field(default_factory=Recipe, description="Recipe fields, or `preset: NAME` plus overrides")
    template: str | None = Field(None, validate_default=True,
                                 description="chat template; default: the recipe preset's, else alpaca")
    datasets: list[DatasetSpec] = Field(min_length=1)
    roles: RolesSpec = RolesSpec()
    generation: GenerationSpec = GenerationSpec()
    evaluation: Any = None
    leaderboard: LeaderboardSpec = LeaderboardSpec()

    @field_validator("recipe", mode="before")
    @classmethod
    def _expand_preset(cls, value: Any) -> Any:
        return recipe_fields(value) if isinstance(value, dict) else value

    @field_validator("template", mode="after")
    @classmethod
    def _one_template(cls, value: str | None, info: ValidationInfo) -> str:
        """The one chat template every dataset trains and generates with (precedence: suites/models/recipes.py)."""
        from sftbench.suites.models.chat_templates import get_template
        recipe = info.data.get("recipe")
        name = resolve_template(recipe, value) if recipe is not None else (value or "alpaca")
        get_template(name)
        return name

    @model_validator(mode="after")
    def _unique_names(self) -> "Suite":
        names = [d.name for d in self.datasets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dataset names must be unique; repeated: {dupes}")
        if getattr(self.evaluation, "include_base", False) and BASE_ROW in names:
            raise ValueError(f"the dataset name {BASE_ROW!r} is the untuned base model's row with "
                             "evaluation.include_base: rename that dataset")
        if self.leaderboard.reference and self.leaderboard.reference not in names:
            raise ValueError(unknown_name_message("leaderboard.reference dataset", self.leaderboard.reference, names))
        return self

    def evaluation_section(self, name: str) -> Any:
        """The typed `evaluation.<name>` section (None when that evaluation is off by default and not given)."""
        return getattr(self.evaluation, name, None)

    def recipe_for(self, seed: int) -> Recipe:
        """The recipe of one training seed."""
        return self.recipe.model_copy(update={"seed": seed})


_MODELS: dict[tuple[str, ...], type[Suite]] = {}


def suite_model() -> type[Suite]:
    """The Suite class whose `evaluation` section has one typed field per registered evaluation."""
    from sftbench.suites.evaluations import registered
    plugins = registered()
    key = tuple(f"{p.name}:{type(p).__module__}.{type(p).__qualname__}" for p in plugins)
    if key not in _MODELS:
        fields: dict[str, Any] = {}
        for plugin in plugins:
            default = plugin.default()
            fields[plugin.name] = ((plugin.spec, Field(default_factory=plugin.default)) if default is not None else
                                   (plugin.spec | None, None))
        fields["include_base"] = (bool, Field(False, description="also evaluate the untuned base model through the "
                                              "same template and decoding: a row of its own, and a Δ vs base "
                                              "column per evaluation"))
        sections = create_model("EvaluationSpec", __base__=Strict, **fields)
        _MODELS[key] = create_model("Suite", __base__=Suite, evaluation=(sections, Field(default_factory=sections)))
    return _MODELS[key]


def _set_path(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def _nested_checks(suite: Suite) -> list[tuple[tuple, str]]:
    """Checks that need another component's schema (builder params, model config, roles) or several sections
    (each evaluation's `check`)."""
    from sftbench.suites.evaluations import registered
    from sftbench.suites.models.tiny_config import TinyModelConfig

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
    problems += role_errors(suite.roles)
    for i, spec in enumerate(suite.datasets):  # what the configured roles cannot serve (the world's, mostly)
        for message in role_problems(spec.builder, spec.params, suite.roles.providers(), pool=suite.pool.source):
            where, _, text = message.partition(": ")
            loc = ("datasets", i, *where.split(".")) if where.startswith("params.") else ("pool", "source")
            problems.append((loc, text))
    for plugin in registered():
        problems += plugin.check(suite, suite.evaluation_section(plugin.name))
    return problems


class SuiteProblems(SuiteError):
    """Every problem of a suite file at once, each with its file (or --set argument), line and field."""

    def __init__(self, problems: list[SuiteError]):
        self.problems = problems
        first = problems[0]
        super().__init__(first.file, first.line, first.field, first.message)
        self.args = ("\n".join(str(p) for p in problems),) if len(problems) > 1 else self.args

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        return f"{len(self.problems)} problems:\n" + "\n".join(f"  {p}" for p in self.problems)


def load_suite(path: str | Path, overrides: dict[str, Any] | None = None) -> Suite:
    """Parse and fully validate a suite file; every problem is reported at once (SuiteProblems), each located by
    file and line, or by the --set argument it came from."""
    from sftbench.suites.evaluations import load_plugins
    source: YamlSource = load_yaml(path)
    data = source.data
    overrides = overrides or {}
    for dotted, value in overrides.items():
        _set_path(data, dotted, value)
    if isinstance(data.get("plugins"), list):
        try:
            load_plugins([str(m) for m in data["plugins"]])
        except ValueError as exc:
            raise SuiteProblems([_located(source, ("plugins",), str(exc), overrides)]) from None
    try:
        suite = suite_model().model_validate(data)
    except ValidationError as exc:
        raise SuiteProblems([_located(source, e["loc"], e["msg"], overrides) for e in exc.errors()]) from None
    problems = _nested_checks(suite)
    if problems:
        raise SuiteProblems([_located(source, loc, msg, overrides) for loc, msg in problems])
    return suite


def resolved_recipe_and_template(suite: Suite, seed: int) -> tuple[Recipe, str]:
    """The Recipe for one training seed and the chat template the whole suite uses."""
    return suite.recipe_for(seed), str(suite.template)


def _located(source: YamlSource, loc: tuple, msg: str, overrides: dict[str, Any] | None = None) -> SuiteError:
    msg = msg.removeprefix("Value error, ")
    loc = tuple(loc)
    if msg == "Extra inputs are not permitted":
        msg = f"unknown field '{loc[-1]}' (remove it or check its spelling{_did_you_mean(loc)})"
    for dotted, value in (overrides or {}).items():
        path = tuple(dotted.split("."))
        if loc[:len(path)] == path:
            return SuiteError(f"--set {dotted}={value!r}", None, format_loc(loc), msg)
    return SuiteError(source.path, source.line_of(loc), format_loc(loc), msg)


def _did_you_mean(loc: tuple) -> str:
    """'; did you mean X' for a misspelt field, from the fields the schema has at that place."""
    import difflib

    from pydantic import BaseModel
    model: Any = suite_model()
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return ""
        annotation = field.annotation
        args = getattr(annotation, "__args__", ()) or (annotation,)
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return ""
    names = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


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
