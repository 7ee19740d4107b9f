"""The work of each step kind. Each function fills a fresh directory; the store makes it atomic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from sftbench.datasets_builders.builders.base import BuildContext
from sftbench.datasets_builders.card import make_card
from sftbench.datasets_builders.registry import get_builder, parse_params
from sftbench.common.rows import Row, read_jsonl, write_jsonl
from sftbench.judges.length_control import build_df_gamed, lc_winrate
from sftbench.judges.pairwise import annotate_pairs
from sftbench.common.hashing import hash_obj
from sftbench.suites.engine.store import write_json_atomic
from sftbench.suites.engine.schema import DatasetSpec, Suite, WorldSpec

def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class FailureLog:
    """Collects the parse failures (with raw answers) that LLM roles record during one step into its directory."""

    def __init__(self, **roles: Any):
        self.roles = roles
        self.start = {name: len(getattr(role, "failures", ())) for name, role in roles.items()}

    def write(self, out: Path) -> dict[str, int]:
        counts = {}
        for name, role in self.roles.items():
            new = list(getattr(role, "failures", ()))[self.start[name]:]
            if new:
                write_jsonl(out / f"failures-{name}.jsonl", new)
                counts[name] = len(new)
        return counts


def fingerprint_id(fingerprint: dict) -> str:
    return hash_obj(fingerprint)


def world_step(spec: WorldSpec, out: Path) -> dict:
    from sftbench.datasets_builders import world
    pool = world.make_pool(spec.pool_size, seed=spec.seed)
    curated = world.make_curated(spec.curated_size, seed=spec.seed + 1)
    prompts = world.make_eval_prompts(spec.eval_prompts, seed=spec.seed + 2, composition_frac=spec.composition_frac)
    files = {"pool": pool, "curated": curated, "eval_prompts": prompts,
             "baseline": world.reference_outputs(prompts),
             "baseline_verbose": world.gamed_outputs(prompts, "verbose"),
             "baseline_concise": world.gamed_outputs(prompts, "concise")}
    for name, rows in files.items():
        write_jsonl(out / f"{name}.jsonl", rows)
    return {"rows": {name: len(rows) for name, rows in files.items()}}


def load_pool(suite: Suite, world_dir: Path) -> list[Row]:
    return load_pool_with_info(suite, world_dir)[0]


def load_pool_with_info(suite: Suite, world_dir: Path) -> tuple[list[Row], dict[str, Any]]:
    if suite.pool.source == "world":
        rows = read_jsonl(world_dir / "pool.jsonl")
        return rows, {"source": "world", "rows": len(rows)}
    from sftbench.datasets_builders.pools import load_pool as load_source
    pool = load_source(suite.pool.source, suite.pool.path, suite.pool.revision, suite.pool.skip_bad_rows)
    return pool.rows, pool.info


def build_step(spec: DatasetSpec, suite: Suite, world_dir: Path, roles: dict[str, Any], out: Path,
               seed: int, progress: bool) -> dict:
    from sftbench.datasets_builders import world
    pool, pool_info = load_pool_with_info(suite, world_dir)
    params = parse_params(spec.builder, spec.params)
    native = suite.pool.source == "world"  # the world's curated set and skill lists go with the world pool only
    ctx = BuildContext(seed=seed, teacher=roles.get("teacher"), rater=roles.get("rater"),
                       curated=read_jsonl(world_dir / "curated.jsonl") if native else None,
                       skills=world.SKILL_NAMES if native else (), query_types=world.QUERY_TYPES if native else (),
                       progress=progress)
    failures = FailureLog(**roles)
    result = get_builder(spec.builder).build(pool, params, ctx)
    failed = failures.write(out)
    if not result.rows:
        raise ValueError(f"dataset '{spec.name}': builder '{spec.builder}' selected no rows; loosen its params")
    write_jsonl(out / "dataset.jsonl", result.rows)
    for name, rows in result.sidecars.items():
        write_jsonl(out / f"{name}.jsonl", rows)
    card = make_card(result.rows, spec.builder, params.model_dump(mode="json"), pool_info, result.info, seed)
    write_json_atomic(out / "card.json", card)
    return {"card": {k: card[k] for k in ("size", "content_sha256")}, "llm_failures": failed,
            "fingerprints": {name: role.fingerprint for name, role in roles.items()}}


def eval_prompts(world_dir: Path) -> list[Row]:
    return read_jsonl(world_dir / "eval_prompts.jsonl", validate=False)


def outputs_of(path: Path) -> list[str]:
    return [r["output"] for r in read_jsonl(path, validate=False)]


def generate_step(model_dir: Path, prompts_file: Path, max_new_tokens: int, batch_size: int, threads: int,
                  generator: str, out: Path, progress: bool, backend: str = "auto") -> dict:
    """Answer every `instruction` in `prompts_file` (JSONL, eval order) with the checkpoint's own template."""
    from sftbench.suites.models.generate import decoding_record, generate
    prompts = read_jsonl(prompts_file, validate=False)
    outputs = generate(model_dir, [p["instruction"] for p in prompts], max_new_tokens=max_new_tokens,
                       batch_size=batch_size, threads=threads, progress=progress, backend=backend)
    write_jsonl(out / "outputs.jsonl", [{"instruction": p["instruction"], "output": o, "generator": generator}
                                        for p, o in zip(prompts, outputs)])
    return {"n_outputs": len(outputs), "decoding": decoding_record(model_dir, max_new_tokens, batch_size, backend)}


def _annotations(prompts: Sequence[Row], baseline: Sequence[str], outputs: Sequence[str], judge: Any,
                 generator: str, randomize: bool) -> pd.DataFrame:
    records = annotate_pairs(prompts, baseline, outputs, judge, generator=generator, baseline_name="world_reference",
                             annotator=judge.fingerprint.get("model", "judge"), randomize_order=randomize)
    return pd.DataFrame(records)


def lc_table_step(world_dir: Path, judge: Any, randomize: bool, out: Path) -> dict:
    """Judge the baseline's verbose and concise variants against itself: the GLM's length anchor (df_gamed)."""
    prompts, baseline = eval_prompts(world_dir), outputs_of(world_dir / "baseline.jsonl")
    failures = FailureLog(judge=judge)
    gamed = {f"world_reference_{kind}": _annotations(prompts, baseline, outputs_of(world_dir / f"baseline_{kind}.jsonl"),
                                                     judge, f"world_reference_{kind}", randomize)
             for kind in ("verbose", "concise")}
    failures.write(out)
    df = build_df_gamed(gamed)
    df.to_csv(out / "df_gamed.csv", index=False)
    return {"judge_fingerprint": judge.fingerprint, "n_failed": {m: int(a["failed"].sum()) for m, a in gamed.items()},
            "gamed_win_rates": {m: round(float((a["preference"] - 1).mean() * 100), 3) for m, a in gamed.items()}}


def judge_step(world_dir: Path, outputs_dir: Path, df_gamed: Path, judge: Any, randomize: bool, glm: str,
               generator: str, out: Path) -> dict:
    prompts, baseline = eval_prompts(world_dir), outputs_of(world_dir / "baseline.jsonl")
    outputs = outputs_of(outputs_dir / "outputs.jsonl")
    failures = FailureLog(judge=judge)
    df = _annotations(prompts, baseline, outputs, judge, generator, randomize)
    failures.write(out)
    df["judge_fingerprint"] = fingerprint_id(judge.fingerprint)  # full fingerprint in the manifest
    df.to_json(out / "annotations.json", orient="records", indent=1, force_ascii=False)
    metrics: dict[str, Any] = lc_winrate(df.drop(columns=["swapped", "failed", "judge_fingerprint"]), df_gamed,
                                         glm_name=glm)
    metrics.update(avg_length=float(df["output_2"].str.len().mean()), baseline="world_reference",
                   n_failed=int(df["failed"].sum()))
    write_json_atomic(out / "metrics.json", metrics)
    return {"metrics": metrics, "judge_fingerprint": judge.fingerprint}


def sft_rows(build_dir: Path) -> list[Row]:
    return read_jsonl(build_dir / "dataset.jsonl")
