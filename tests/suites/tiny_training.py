"""Helpers for the training tests: a few Alpaca rows about animals and a tiny random-init Llama trained on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from sftbench.suites.models.base_models import random_init
from sftbench.suites.models.tokenizer_train import train_tokenizer

ANIMALS = ["fox", "owl", "otter", "heron", "badger", "lynx"]
PLACES = ["the river", "the old mill", "the pine forest", "the north hill"]
TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
            max_position_embeddings=256)


def rows(n: int = 24) -> list[dict]:
    return [{"instruction": f"Where does the {ANIMALS[i % 6]} live?" + " Be brief." * (i % 3), "input": "",
             "output": f"The {ANIMALS[i % 6]} lives near {PLACES[i % 4]}." + " It sleeps there." * (i % 4)}
            for i in range(n)]


def tiny_base(tmp_path_factory: pytest.TempPathFactory, **shape: Any) -> Path:
    """A BPE tokenizer trained on the rows and a random-init Llama of `shape` (default TINY), saved together."""
    texts = [f"{r['instruction']} {r['output']}" for r in rows(48)] * 3
    tok = train_tokenizer(texts, 320, tmp_path_factory.mktemp("tok"))
    return random_init("tiny", tok, tmp_path_factory.mktemp("base"), seed=0, **(shape or TINY))


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))
