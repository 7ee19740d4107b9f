"""The `contam` step: one dataset checked against every evaluation set of the suite (exact normalised prompts and
13-gram overlap, datasets_builders/contamination.py), and with `decontaminate: true` the dataset without the
flagged rows, whose card records what was dropped (training then reads this step's dataset.jsonl)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sftbench.common.jsonio import read_json, write_json_atomic
from sftbench.common.rows import read_jsonl, write_jsonl
from sftbench.suites.engine.step import Step, StepContext, step_kind

REPORT = "contamination.json"


@step_kind("contam")
def contamination_step(step: Step, inputs: dict[str, Path], out: Path, ctx: StepContext) -> dict[str, Any]:
    from sftbench.datasets_builders.card import content_hash, length_stats
    from sftbench.datasets_builders.contamination import EvalIndex, check, decontaminate
    from sftbench.suites.evaluations import get
    rows = read_jsonl(inputs["data"] / "dataset.jsonl", validate=False)
    indexes = []
    for name, source in step.args["sources"].items():
        plugin = get(name)
        spec = plugin.spec.model_validate(source["spec"])
        mine = {local: inputs[dep] for local, dep in source["inputs"].items()}
        indexes.append(EvalIndex.of(name, plugin.eval_prompts(spec, mine, source["args"]), step.config["n"]))
    report = check(rows, indexes)
    positions = report.pop("_positions")
    if step.config["decontaminate"]:
        kept = decontaminate(rows, {"_positions": positions})
        if not kept:
            raise ValueError(f"dataset '{step.key.name}': decontaminate dropped every row (all {len(rows)} overlap "
                             "the evaluation prompts)")
        write_jsonl(out / "dataset.jsonl", kept)
        card = read_json(inputs["data"] / "card.json")
        card["decontamination"] = {"removed": len(rows) - len(kept), "removed_ids": report["contaminated_ids"],
                                   "by_eval": report["by_eval"], "n": report["n"], "size_before": len(rows)}
        card.update(size=len(kept), content_sha256=content_hash(kept), response_length=length_stats(kept))
        write_json_atomic(out / "card.json", card)
        for sidecar in sorted(inputs["data"].glob("*.jsonl")):  # the build's other files (heldout.jsonl), as built
            if sidecar.name != "dataset.jsonl":
                shutil.copyfile(sidecar, out / sidecar.name)
    write_json_atomic(out / REPORT, report)
    return {"contaminated_rows": report["contaminated_rows"], "rows": report["rows"]}


__all__ = ["contamination_step", "REPORT"]
