"""A step is data: its key (kind, name, resolved config, input hashes), where its inputs are in the store, and the
run parameters that do not change its result. Its body is looked up by kind in one registry.

A body is `body(step, inputs, out, ctx) -> stats`: `step` (this record), `inputs` (input name -> the directory of
a finished step it reads), `out` (the fresh directory to fill; the store renames it into place) and `ctx` (this
process's StepContext: store, threads, live LLM roles built from the role config the step carries). A body never
closes over a planner or holds live objects, so any process that can read the store can run any step.

Step kinds register where their body lives (`@step_kind("train")` in suites/models/steps.py, each evaluation
plugin for its own kinds); a fresh process finds them by importing the stage modules and the registered plugins.
"""

from __future__ import annotations

import importlib
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from sftbench.common.hashing import canonical_json
from sftbench.suites.engine.store import StepKey, Store

RESUME_DIR = ".resume"  # per-train-step checkpoints that survive a kill (under runs/<suite>/)
STAGE_MODULES = ("sftbench.suites.data.steps", "sftbench.suites.data.contamination_step",
                 "sftbench.suites.models.steps")


@dataclass(frozen=True)
class Step:
    key: StepKey
    label: str
    seed: int | None = None
    deps: dict[str, str] = field(default_factory=dict)   # input name -> directory name of the step it reads
    args: dict[str, Any] = field(default_factory=dict)   # JSON run parameters that are not part of the key
    module: str | None = None                            # where the kind is registered (plugins outside sftbench)

    @property
    def config(self) -> dict:
        return self.key.config

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "key": {"kind": self.key.kind, "name": self.key.name, "config": self.key.config,
                                        "inputs": self.key.inputs}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Step":
        return cls(StepKey(**d["key"]), d["label"], d.get("seed"), d.get("deps") or {}, d.get("args") or {},
                   d.get("module"))


class StepBody(Protocol):
    def __call__(self, step: Step, inputs: dict[str, Path], out: Path, ctx: "StepContext") -> dict | None: ...


_KINDS: dict[str, StepBody] = {}
Resources = Callable[[Step, bool], dict[str, float]]  # (step, the cluster has GPUs) -> Ray resources
_RESOURCES: dict[str, Resources] = {}


def step_kind(kind: str, resources: Resources | None = None) -> Callable[[StepBody], StepBody]:
    """Register the body of a step kind (a decorator); one kind, one body. `resources`: what one step of the kind
    needs on a cluster (default: one CPU)."""
    if resources is not None:
        _RESOURCES[kind] = resources

    def register(body: StepBody) -> StepBody:
        known = _KINDS.get(kind)
        if known is not None and known is not body and \
                (known.__module__, known.__qualname__) != (body.__module__, body.__qualname__):
            raise ValueError(f"step kind {kind!r} is already registered by {known.__module__}.{known.__qualname__}")
        _KINDS[kind] = body
        return body
    return register


def one_gpu(step: Step, gpus_available: bool) -> dict[str, float]:
    """Model work that uses one accelerator when the cluster has them (generation, lm-eval, pretraining)."""
    return {"num_gpus": 1, "num_cpus": 1} if gpus_available else {"num_cpus": 1}


def step_resources(step: Step, gpus_available: bool) -> dict[str, float]:
    step_body(step)  # imports the module that registers the kind (and its resources)
    found = _RESOURCES.get(step.key.kind)
    return found(step, gpus_available) if found is not None else {"num_cpus": 1}


def gpus_used(step: Step, manifest: dict[str, Any]) -> int:
    """The GPUs a finished step held: what its kind asks for, at most what its process saw (the manifest's
    hardware lists every visible GPU, e.g. all 8 of a box where a 1-GPU fine-tune ran)."""
    visible = len((manifest.get("hardware") or {}).get("gpus") or [])
    return min(visible, int(step_resources(step, True).get("num_gpus", 0))) if visible else 0


def step_body(step: Step) -> StepBody:
    if step.key.kind not in _KINDS:
        for module in (*STAGE_MODULES, *([step.module] if step.module else [])):
            importlib.import_module(module)
        from sftbench.suites.evaluations import registered
        registered()
    if step.key.kind not in _KINDS:
        raise ValueError(f"no body registered for step kind {step.key.kind!r} (step {step.key.dirname}); is the "
                         "plugin that plans it importable here?")
    return _KINDS[step.key.kind]


class StepContext:
    """What a process lends the steps it runs: the store, CPU threads, progress display and live LLM roles (one
    RoleSession per distinct `roles` config, so managed servers start once and are stopped on `close`)."""

    def __init__(self, store: Store, threads: int = 1, progress: bool = True, max_usd: float | None = None,
                 coordination: str | Path | None = None):
        self.store, self.threads, self.progress, self.max_usd = store, threads, progress, max_usd
        self.coordination = Path(coordination) if coordination else None  # limits shared with other processes
        self._sessions: dict[str, Any] = {}
        self._stack = ExitStack()

    def roles(self, roles_config: dict[str, Any]) -> Any:
        """The live RoleSession of a suite's `roles` section (as the step carries it: JSON)."""
        key = canonical_json(roles_config)
        if key not in self._sessions:
            from sftbench.suites.engine.roles import RoleSession, RolesSpec
            session = RoleSession(RolesSpec.model_validate(roles_config), self.store.root, max_usd=self.max_usd,
                                  progress=self.progress, coordination=self.coordination)
            self._sessions[key] = self._stack.enter_context(session)
        return self._sessions[key]

    def resume_dir(self, step: Step) -> Path:
        return self.store.root / RESUME_DIR / step.key.dirname

    def cost_snapshot(self) -> dict[str, Any]:
        return {k: s.cost_snapshot() for k, s in self._sessions.items()}

    def cost_since(self, snapshot: dict[str, Any]) -> dict | None:
        """LLM cost of the calls made since `snapshot` (None when no LLM role was used)."""
        costs = [c for k, s in self._sessions.items() if (c := s.cost_since(snapshot.get(k) or {})) is not None]
        if len(costs) <= 1:
            return costs[0] if costs else None
        total: dict[str, Any] = {"by_model": {}}
        for c in costs:
            for k, v in c.items():
                if k == "by_model":
                    total["by_model"].update(v)
                elif isinstance(v, (int, float)) and k != "max_usd":
                    total[k] = total.get(k, 0) + v
        return total

    def close(self) -> None:
        self._stack.close()
        self._sessions.clear()

    def __enter__(self) -> "StepContext":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
