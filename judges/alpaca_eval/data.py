"""AlpacaEval 2.0 inputs: the 805 instructions with the gpt4_1106_preview baseline outputs, and `df_gamed.csv`.

Eval set: by default alpaca_eval's GitHub repository at a pinned commit (`results/gpt4_1106_preview/
model_outputs.json`, sha256-checked; the same 805 rows as the hub's `alpaca_eval_gpt4_baseline.json`), or the hub
dataset `tatsu-lab/alpaca_eval` (`source="hub"`), or a local copy of either (.json/.json.gz/.jsonl). The hub's
loading script does not run with datasets >= 4, so hub files are fetched with huggingface_hub, not `datasets`.

df_gamed (the length-controlled GLM's anchor): only on the hub; offline, give a local copy with `--df-gamed PATH`
(../shared/data/alpaca_eval/derived/df_gamed.csv is an offline rebuild, accuracy in its README), or build one for
your own eval set and judge with `judges.length_control.build_df_gamed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from sftbench.common.downloads import HubFile, PinnedFile, fetch, fetch_hub, provenance, read_json_or_jsonl

BASELINE = "gpt4_1106_preview"
ALPACA_EVAL_REPO, ALPACA_EVAL_COMMIT = "tatsu-lab/alpaca_eval", "cd543a149df89434d8a54582c0151c0b945c3d20"
# The eval set's default is the GitHub file above, pinned by commit and sha256. The hub revision stays a branch: the
# only public pin of tatsu-lab/alpaca_eval found (0cd24d71..., linked from 2023 READMEs) predates AlpacaEval 2.0's
# alpaca_eval_gpt4_baseline.json and df_gamed.csv. `provenance` records the commit a hub download resolved to and the
# sha256 of what was read, so a run stays traceable.
HUB_REVISION = "main"
EVAL_SET_OVERRIDE = "alpaca_eval eval_set (a local model_outputs.json[.gz] or alpaca_eval_gpt4_baseline.json)"
EVAL_SET = PinnedFile("AlpacaEval 2.0 eval set (805 instructions + gpt4_1106_preview outputs)", ALPACA_EVAL_REPO,
                      ALPACA_EVAL_COMMIT, "results/gpt4_1106_preview/model_outputs.json",
                      "83db546b872ddebee8965fd05fa48461ee3c32bc695c62fb57f2d214ff741ec4", EVAL_SET_OVERRIDE)
EVAL_SET_HUB = HubFile("AlpacaEval 2.0 eval set", ALPACA_EVAL_REPO, "alpaca_eval_gpt4_baseline.json", HUB_REVISION,
                       EVAL_SET_OVERRIDE)
DF_GAMED_HUB = HubFile("AlpacaEval length-control table df_gamed.csv", ALPACA_EVAL_REPO, "df_gamed.csv",
                       HUB_REVISION, "--df-gamed PATH (e.g. ../shared/data/alpaca_eval/derived/df_gamed.csv)")


@dataclass
class EvalSet:
    rows: list[dict[str, Any]]          # {instruction, dataset, output (the baseline's), generator}
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def instructions(self) -> list[str]:
        return [r["instruction"] for r in self.rows]

    @property
    def baseline_outputs(self) -> list[str]:
        return [r["output"] for r in self.rows]

    @property
    def baseline_name(self) -> str:
        names = {r.get("generator", BASELINE) for r in self.rows}
        return names.pop() if len(names) == 1 else BASELINE

    def head(self, n: int) -> "EvalSet":
        return self.subset(range(n))

    def subset(self, indices: Sequence[int]) -> "EvalSet":
        """Some of the instructions, in the order given (slice df_gamed the same way: `slice_df_gamed`)."""
        indices = list(indices)
        return EvalSet([self.rows[i] for i in indices], {**self.provenance, "subset": indices})


def load_eval_set(path: str | Path | None = None, source: Literal["github", "hub"] = "github") -> EvalSet:
    """The eval set in AlpacaEval order (the GLM reads the row position as the instruction index)."""
    pinned = EVAL_SET_HUB if source == "hub" else EVAL_SET
    local = fetch_hub(pinned, path) if isinstance(pinned, HubFile) else fetch(pinned, path)
    rows = read_json_or_jsonl(local)
    where = str(path or local)
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{where}: expected a non-empty list of {{instruction, output}} records")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "instruction" not in row or "output" not in row:
            raise ValueError(f"{where}: record {i} lacks 'instruction' or 'output' (AlpacaEval model_outputs format)")
        row.setdefault("dataset", "")
        row.setdefault("generator", BASELINE)
    return EvalSet(rows, provenance(local, pinned, path))


def slice_df_gamed(df_gamed: str | Path, indices: Sequence[int], out: str | Path) -> Path:
    """df_gamed restricted to the eval-set rows `indices`, renumbered 0..k-1 in that order (what the GLM needs for
    annotations of `EvalSet.subset(indices)`): each kept instruction keeps its difficulty and gamed rows, and the
    first gamed model's rows come first so the GLM's row-label lookup of difficulty stays right."""
    import pandas as pd
    table = pd.read_csv(df_gamed)
    indices = list(indices)
    position = {old: new for new, old in enumerate(indices)}
    if len(position) != len(indices):
        raise ValueError("slice_df_gamed: indices repeat")
    missing = sorted(set(indices) - set(table["index"]))
    if missing:
        raise ValueError(f"{df_gamed}: no rows for instruction indices {missing[:10]}")
    parts = []
    for model in table["model"].unique():  # keep the file's model order
        rows = table[(table["model"] == model) & table["index"].isin(position)].copy()
        rows["index"] = rows["index"].map(position)
        parts.append(rows.sort_values("index"))
    sliced = pd.concat(parts, ignore_index=True)
    sliced.to_csv(out, index=False)
    return Path(out)


def df_gamed_path(path: str | Path | None = None) -> Path:
    """A local df_gamed.csv: `path` if given, else the hub's (cached); offline without `path`: DataUnavailable."""
    return fetch_hub(DF_GAMED_HUB, path)


__all__ = ["EvalSet", "load_eval_set", "df_gamed_path", "slice_df_gamed", "BASELINE", "EVAL_SET", "DF_GAMED_HUB",
           "HUB_REVISION"]
