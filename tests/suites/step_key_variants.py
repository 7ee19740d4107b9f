"""Every step key of the shipped suites and of suite variants that cover every step kind and option that reaches
a key. The golden dump (tests/suites/golden/step_keys.json) is users' caches: a refactor keeps it byte-identical.

    python -m tests.suites.step_key_variants --write   # regenerate (only when a key change is intended)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "assets" / "tiny_suite.yaml"
GOLDEN = Path(__file__).parent / "golden" / "step_keys.json"

LLM_JUDGE = {"provider": "openai_compatible", "params": {"model": "loop-judge", "base_url": "http://127.0.0.1:9/v1"}}


def _files(root: Path) -> dict[str, Path]:
    """Fixed-content local files (only their content reaches keys)."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"pool": ("pool.jsonl", '{"instruction": "Say hi.", "input": "", "output": "hi"}\n'),
             "ae_data": ("ae.json", '[{"instruction": "a", "output": "b", "generator": "g"}]'),
             "df_gamed": ("df_gamed.csv", "index,x\n0,1\n"),
             "wb_tasks": ("wb_tasks.jsonl", '{"session_id": "s1"}\n'),
             "wb_ref": ("wb_ref.json", '[{"session_id": "s1", "output": ["x"]}]'),
             "heldout": ("heldout.jsonl", '{"instruction": "q", "output": "a"}\n')}
    out = {}
    for name, (fname, text) in files.items():
        (root / fname).write_text(text)
        out[name] = root / fname
    model = root / "local_model"
    model.mkdir(exist_ok=True)
    (model / "config.json").write_text('{"model_type": "llama"}\n')
    out["model_dir"] = model
    return out


def variants(tmp: Path) -> dict[str, tuple[Path | str, dict[str, Any]]]:
    f = _files(tmp / "files")
    return {
        "quickstart": ("quickstart", {}),
        "quickstart-llm": ("quickstart-llm", {}),
        "papers-llama3-8b": ("papers-llama3-8b", {}),
        "tiny": (TINY, {}),
        "tiny-seeds-nofloor": (TINY, {"seeds": [0, 1], "leaderboard.noise_floor_sample": 0,
                                      "generation.backend": "transformers"}),
        "tiny-ae2": (TINY, {"roles.judge": LLM_JUDGE,
                            "evaluation.alpaca_eval": {"eval_set": "alpaca_eval_2", "data_path": str(f["ae_data"]),
                                                       "df_gamed": str(f["df_gamed"]), "max_instances": 5}}),
        "tiny-ae2-hub": (TINY, {"roles.judge": LLM_JUDGE, "evaluation.alpaca_eval.eval_set": "alpaca_eval_2",
                                "evaluation.alpaca_eval.source": "hub"}),
        "tiny-all-evals": (TINY, {"roles.judge": {"provider": "openai", "params": {"model": "gpt-4o-mini"}},
                                  "evaluation.mt_bench.enabled": True,
                                  "evaluation.wildbench": {"enabled": True, "tasks_path": str(f["wb_tasks"]),
                                                           "references": {"haiku": str(f["wb_ref"]), "gpt4t": None},
                                                           "max_tasks": 3},
                                  "evaluation.openllm": {"tasks": [{"name": "world_mc", "options": {"n": 20}}]}}),
        "tiny-wb-hub": (TINY, {"roles.judge": LLM_JUDGE, "evaluation.wildbench.enabled": True,
                               "generation.backend": "vllm"}),
        "tiny-heldout-world": (TINY, {"recipe": {"preset": "instruct_skillmix", "epochs": 2}}),
        "tiny-heldout-file": (TINY, {"recipe.select": "best_heldout",
                                     "evaluation.heldout": {"source": "file", "path": str(f["heldout"]), "n": 3}}),
        "tiny-heldout-sidecar": (TINY, {"recipe.select": "best_heldout", "evaluation.heldout.source": "sidecar",
                                        "datasets": [{"name": "sm", "builder": "skillmix",
                                                      "params": {"n": 20, "heldout": 5}}]}),
        "tiny-file-pool-llm-builders": (TINY, {
            "pool": {"source": "file", "path": str(f["pool"])},
            "base_model": {"kind": "local", "path": str(f["model_dir"])},
            "roles.teacher": {"provider": "llamacpp_server", "params": {"model_path": "smollm2"}},
            "roles.rater": {"provider": "anthropic", "params": {"model": "claude-3-5-sonnet-20240620"}},
            "datasets": [{"name": "sm", "builder": "skillmix", "params": {"n": 10, "k": 1}},
                         {"name": "ag", "builder": "alpagasus", "params": {"k": 5}},
                         {"name": "mine", "builder": "file", "params": {"path": str(f["pool"])}},
                         {"name": "long", "builder": "longest", "params": {"k": 5}}]}),
        "tiny-gguf-lora": (TINY, {"base_model": {"kind": "gguf", "path": "smollm2"},
                                  "recipe": {"preset": "lima", "finetune": "lora"}}),
        "ablations": ("ablations", {}),
    }


def dump(tmp: Path) -> dict[str, list[list[Any]]]:
    from sftbench.suites.engine.plan import make_plan
    from sftbench.suites.engine.schema import load_suite, resolve_suite_path
    out = {}
    for name, (suite, overrides) in variants(tmp).items():
        path = resolve_suite_path(suite) if isinstance(suite, str) else suite
        plan = make_plan(load_suite(path, overrides), tmp / "runs", progress=False)
        out[name] = [[s.key.dirname, s.label, s.seed] for s in plan.steps]
    return out


# Some keys still hold local paths (wildbench tasks/references, held-out and builder files, a local base model):
# the files live at one fixed place so that the dump is the same on every machine.
FILES_ROOT = Path("/tmp/sftbench-step-key-files")


if __name__ == "__main__":
    keys = dump(FILES_ROOT)
    text = json.dumps(keys, indent=1) + "\n"
    if "--write" in sys.argv:
        GOLDEN.write_text(text)
    else:
        sys.stdout.write(text)
