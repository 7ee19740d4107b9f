"""Helpers referenced by the task YAMLs in this folder (`!function utils.<name>`).

They reproduce the Open LLM Leaderboard v1 preprocessing and scoring of lm-evaluation-harness's tasks.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np


# -- HellaSwag ---------------------------------------------------------------------------------------------

def _clean_hellaswag(text: str) -> str:
    """WikiHow artefacts out: ' [title]' becomes a sentence break, other [bracketed] tags are dropped."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def hellaswag_docs(dataset: Any) -> Any:
    """Adds `query` (activity label + context), `choices` (cleaned endings) and integer `gold`."""
    def convert(doc: dict) -> dict:
        context = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        return {"query": _clean_hellaswag(doc["activity_label"] + ": " + context),
                "choices": [_clean_hellaswag(ending) for ending in doc["endings"]],
                "gold": int(doc["label"])}

    return dataset.map(convert)


# -- TruthfulQA (MC2) --------------------------------------------------------------------------------------

def truthfulqa_mc2(doc: dict, results: Sequence[tuple[float, bool]]) -> dict[str, float]:
    """MC2: the probability mass of the true answers, normalised over all answers."""
    loglik = np.array([ll for ll, _ in results], dtype=float)
    probs = np.exp(loglik - loglik.max())  # the shift cancels in the normalisation
    labels = np.array(doc["mc2_targets"]["labels"])
    return {"acc": float(probs[labels == 1].sum() / probs.sum())}


# -- Winogrande (partial evaluation: score the text after the blank given each option) ------------------

def winogrande_text(doc: dict) -> int:
    """The index of the right context (options are contexts, the continuation is shared)."""
    return {"1": 0, "2": 1}[str(doc["answer"])]


def winogrande_target(doc: dict) -> str:
    return doc["sentence"][doc["sentence"].index("_") + 1:].strip()


def winogrande_choices(doc: dict) -> list[str]:
    head = doc["sentence"][:doc["sentence"].index("_")]
    return [head + doc["option1"], head + doc["option2"]]
