"""Recipe presets, batch planning, LoRA, packing, resume after a kill and best-epoch selection on a tiny model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from sftbench.suites.models.chat_templates import get_template, load_checkpoint_template
from sftbench.suites.models.recipes import (
    preset_names,
    recipe_fields,
    resolve_recipe,
    resolve_template,
)
from sftbench.suites.models.train import (
    Recipe,
    batch_plan,
    build_sft_trainer,
    check_runtime,
    lora_config,
    sft_train,
)

from tests.suites.tiny_training import rows as _rows
from tests.suites.tiny_training import tiny_base
from tests.suites.tiny_training import weights as _weights

BASE = Recipe(epochs=2, lr=3e-3, batch_size=4, max_length=96, seed=3, warmup_ratio=0.0)


def _r(update: dict) -> Recipe:
    return Recipe.model_validate({**BASE.model_dump(), **update})


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_base(tmp_path_factory)


# -- presets ----------------------------------------------------------------------------------------------------

def test_presets_load_with_their_papers_settings() -> None:
    assert {"long_is_more", "instruct_skillmix", "alpagasus", "lima"} <= set(preset_names())
    lim = resolve_recipe({"preset": "long_is_more"})
    assert (lim.epochs, lim.lr, lim.lr_scheduler, lim.warmup_ratio, lim.global_batch_size, lim.weight_decay,
            lim.adam_beta2, lim.max_length, lim.template) == (15, 1e-5, "linear", 0, 128, 0.1, 0.95, 2048,
                                                              "vicuna_v1.1")
    skill = resolve_recipe({"preset": "instruct_skillmix"})
    assert (skill.lr, skill.lr_scheduler, skill.warmup_ratio, skill.max_length, skill.template, skill.select) == (
        2e-5, "cosine", 0.03, 1024, "alpaca", "best_heldout")
    alpa = resolve_recipe({"preset": "alpagasus"})
    assert (alpa.epochs, alpa.lr, alpa.global_batch_size, alpa.lr_scheduler, alpa.warmup_ratio) == (
        3, 2e-5, 128, "cosine", 0.03)
    lima = resolve_recipe({"preset": "lima"}, seed=5)
    assert (lima.epochs, lima.lr, lima.min_lr, lima.global_batch_size, lima.weight_decay, lima.seed) == (
        15, 1e-5, 1e-6, 64, 0.1, 5)


def test_preset_overrides_and_errors() -> None:
    fields = recipe_fields({"preset": "long_is_more", "neftune_alpha": 5, "finetune": "lora"})
    assert fields["preset"] == "long_is_more" and fields["neftune_alpha"] == 5 and fields["epochs"] == 15
    recipe = Recipe.model_validate(fields)
    assert recipe.finetune == "lora" and recipe.neftune_alpha == 5
    with pytest.raises(ValueError, match="Did you mean 'lima'"):
        resolve_recipe({"preset": "limma"})
    with pytest.raises(ValueError, match="min_lr"):
        Recipe(lr=1e-5, min_lr=1e-4)


def test_template_precedence() -> None:
    lim = resolve_recipe({"preset": "long_is_more"})
    assert resolve_template(lim, None) == "vicuna_v1.1"
    assert resolve_template(lim, "vicuna_v1.1") == "vicuna_v1.1"
    with pytest.raises(ValueError, match="conflicts with recipe preset 'long_is_more'"):
        resolve_template(lim, "chatml")
    assert resolve_template(resolve_recipe({"preset": "long_is_more", "template": "chatml"}), "chatml") == "chatml"
    assert resolve_template(Recipe(), "chatml") == "chatml" and resolve_template(Recipe(), None) == "alpaca"


def test_global_batch_is_independent_of_device_count() -> None:
    recipe = Recipe(batch_size=8, global_batch_size=128)
    for n in (1, 2, 4, 8, 16, 32):
        per_device, accum = batch_plan(recipe, n)
        assert per_device * accum * n == 128
    assert batch_plan(Recipe(batch_size=8, global_batch_size=64), 16) == (4, 1)
    with pytest.raises(ValueError, match="not a multiple"):
        batch_plan(Recipe(batch_size=8, global_batch_size=100), 3)


def test_lima_schedule_decays_linearly_to_min_lr(base: Path, tmp_path: Path) -> None:
    recipe = _r({"lr": 1e-3, "min_lr": 1e-4, "lr_scheduler": "linear", "epochs": 1,
                                     "batch_size": 2})
    trainer = build_sft_trainer(base, _rows(8), recipe, get_template("vicuna_v1.1"), tmp_path)
    trainer.create_optimizer_and_scheduler(num_training_steps=4)
    lrs = []
    for _ in range(4):
        lrs.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert lrs == pytest.approx([1e-3, 7.75e-4, 5.5e-4, 3.25e-4])
    assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(1e-4)
    betas = trainer.optimizer.param_groups[0]["betas"]
    assert betas == (0.9, 0.999)


def test_qlora_trains_adapters_on_a_4bit_base_and_saves_a_plain_merged_checkpoint(base: Path, tmp_path: Path) -> None:
    pytest.importorskip("bitsandbytes", reason="QLoRA needs the [qlora] extra (installed by [test])")
    from bitsandbytes.nn import Linear4bit

    recipe = _r({"finetune": "qlora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "lr": 1e-2, "precision": "fp32"})
    assert lora_config(recipe).target_modules == "all-linear"
    check_runtime(recipe)  # CPU: bitsandbytes' own 4-bit kernels; GPU: CUDA ones
    trainer = build_sft_trainer(base, _rows(8), recipe, get_template("chatml"), tmp_path / "scratch")
    quantized = [m for m in trainer.model.modules() if isinstance(m, Linear4bit)]
    assert len(quantized) == 2 * 7  # q/k/v/o + gate/up/down in each of the 2 layers, NF4
    assert all(m.weight.quant_state.quant_type == "nf4" for m in quantized)

    out = tmp_path / "out"
    stats = sft_train(base, _rows(), recipe, "chatml", out, threads=1, progress=False)
    assert stats["finetune"] == "qlora" and stats["steps"] == 12 and stats["final_loss"] < stats["loss_curve"][0]
    merged, original = _weights(out), _weights(base)
    assert merged.keys() == original.keys()  # merged into a fresh full-precision base, not the 4-bit one
    assert all(merged[k].dtype == original[k].dtype and merged[k].shape == original[k].shape for k in merged)
    changed = [k for k in merged if not torch.equal(merged[k], original[k])]
    assert changed and all("proj" in k for k in changed)


def test_qlora_without_bitsandbytes_fails_clearly(base: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "bitsandbytes" else real_find_spec(name, *a))
    with pytest.raises(RuntimeError, match=r"qlora needs bitsandbytes: pip install -e '\.\[qlora\]'"):
        sft_train(base, _rows(4), _r({"finetune": "qlora"}), "chatml", tmp_path, threads=1, progress=False)
    assert not (tmp_path / "model.safetensors").exists()


@pytest.mark.parametrize("fused_loss", [False, True])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_bf16_mixed_precision_reaches_both_loss_paths(base: Path, tmp_path: Path, precision: str,
                                                      fused_loss: bool) -> None:
    """bf16 autocast must cover the model body in sftbench's LM-head loss as well as trl's fused one."""
    trainer = build_sft_trainer(base, _rows(4), _r({"precision": precision, "fused_loss": fused_loss}),
                                get_template("chatml"), tmp_path)
    seen: list[torch.dtype] = []
    layer = trainer.model.model.layers[0].mlp.down_proj
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    try:
        trainer.train()
    finally:
        handle.remove()
    assert seen and set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # fp32 master weights


# -- LoRA and packing ----------------------------------------------------------------------------------------------

def test_lora_trains_adapters_and_saves_a_merged_checkpoint(base: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    recipe = _r({"finetune": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "lr": 1e-2})
    stats = sft_train(base, _rows(), recipe, "chatml", tmp_path, threads=1, progress=False)
    total = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(base).parameters())
    assert 0 < stats["trainable_params"] < total / 4 and stats["finetune"] == "lora"
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    merged, original = _weights(tmp_path), _weights(base)
    assert merged.keys() == original.keys()  # a plain checkpoint, no lora_* tensors
    changed = [k for k in merged if not torch.equal(merged[k], original[k])]
    assert changed and all("proj" in k for k in changed)  # only adapted linear layers moved
    assert "model.embed_tokens.weight" not in changed
    assert load_checkpoint_template(tmp_path).name == "chatml"
    assert not list(tmp_path.rglob("*.bin"))  # safetensors + JSON only


def test_packed_loss_equals_padded_loss(base: Path, tmp_path: Path) -> None:
    rows = _rows(6)
    losses = []
    for batching in ("padded", "packed"):
        trainer = build_sft_trainer(base, rows, _r({"batching": batching, "max_length": 512}),
                                    get_template("chatml"), tmp_path)
        data = trainer.train_dataset
        batch = trainer.data_collator([data[i] for i in range(len(data))])
        if batching == "packed":
            assert len(data) < len(rows) and batch["input_ids"].shape[0] == 1 and "attention_mask" not in batch
        n_items = (batch["labels"][:, 1:] != -100).sum()
        losses.append(trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=n_items).item())
    assert losses[1] == pytest.approx(losses[0], rel=1e-4)  # no attention across packed examples


def test_label_only_lm_head_loss_equals_the_full_logits_loss(base: Path, tmp_path: Path) -> None:
    from transformers import Trainer, modeling_utils

    for batching in ("padded", "packed"):
        trainer = build_sft_trainer(base, _rows(6), _r({"batching": batching, "max_length": 512}),
                                    get_template("chatml"), tmp_path)
        data = trainer.train_dataset
        batch = trainer.data_collator([data[i] for i in range(len(data))])
        n_items = (batch["labels"][:, 1:] != -100).sum()
        ours = trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=n_items)
        # the model's forward projected only the label positions (transformers with boolean logits_to_keep)
        assert trainer._mask_logits == hasattr(modeling_utils, "slice_logits_to_keep")
        full = Trainer.compute_loss(trainer, trainer.model, dict(batch), num_items_in_batch=n_items)
        assert ours.item() == pytest.approx(full.item(), rel=1e-5)


def test_packed_training_runs(base: Path, tmp_path: Path) -> None:
    stats = sft_train(base, _rows(), _r({"batching": "packed", "max_length": 256}), "chatml",
                      tmp_path, threads=1, progress=False)
    assert stats["batching"] == "packed" and stats["examples"] < 24 and stats["steps"] >= 2
    assert (tmp_path / "model.safetensors").is_file()


# -- resume after a kill -------------------------------------------------------------------------------------------

def test_resume_after_kill_matches_an_uninterrupted_run(base: Path, tmp_path: Path) -> None:
    recipe = _r({"epochs": 3, "save_steps": 2})
    rows = _rows(16)  # 4 steps per epoch, 12 in all
    full = sft_train(base, rows, recipe, "chatml", tmp_path / "full", threads=1, progress=False)
    resume = tmp_path / "resume"
    script = textwrap.dedent(f"""
        import json, os, sys
        from pathlib import Path
        import transformers
        from sftbench.suites.models.train import Recipe, sft_train
        class Kill(transformers.TrainerCallback):
            def on_save(self, args, state, control, **kw):
                if state.global_step >= 6:
                    os._exit(9)  # like SIGKILL: no cleanup, no exception handling
        orig = transformers.Trainer.__init__
        def init(self, *a, **k):
            orig(self, *a, **k); self.add_callback(Kill())
        transformers.Trainer.__init__ = init
        recipe = Recipe.model_validate_json({recipe.model_dump_json()!r})
        sft_train(Path({str(base)!r}), json.loads({json.dumps(rows)!r}), recipe, "chatml",
                  Path({str(tmp_path / 'killed')!r}), threads=1, progress=False, resume_dir=Path({str(resume)!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert (resume / "checkpoint-6").is_dir() and not (tmp_path / "killed" / "model.safetensors").exists()
    again = sft_train(base, rows, recipe, "chatml", tmp_path / "again", threads=1, progress=False,
                      resume_dir=resume)
    assert again["resumed_from_step"] == 6 and again["steps"] == full["steps"] == 12
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "again")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    assert not list(resume.glob("checkpoint-*/model.bin"))


def test_a_resume_dir_of_another_run_is_refused(base: Path, tmp_path: Path) -> None:
    recipe = _r({"epochs": 1})
    sft_train(base, _rows(8), recipe, "chatml", tmp_path / "a", threads=1, progress=False, resume_dir=tmp_path / "r")
    with pytest.raises(ValueError, match="another training run"):
        sft_train(base, _rows(9), recipe, "chatml", tmp_path / "b", threads=1, progress=False,
                  resume_dir=tmp_path / "r")


# -- best epoch on a held-out metric ---------------------------------------------------------------------------------

def test_best_epoch_selection_keeps_the_best_scored_epoch(base: Path, tmp_path: Path) -> None:
    seen: list[Path] = []
    wanted = {1: 0.2, 2: 0.9, 3: 0.5}  # epoch 2 is the best

    def metric(checkpoint: Path) -> float:
        assert (checkpoint / "model.safetensors").is_file() and load_checkpoint_template(checkpoint).name == "alpaca"
        seen.append(checkpoint)
        torch.manual_seed(1234)  # scoring must not disturb training's RNG
        return wanted[len(seen)]

    recipe = _r({"epochs": 3, "select": "best_heldout", "max_length": 256})
    stats = sft_train(base, _rows(8), recipe, "alpaca", tmp_path / "out", threads=1, progress=False,
                      heldout_metric=metric, resume_dir=tmp_path / "resume")
    assert [s["score"] for s in stats["selection"]["scores"]] == [0.2, 0.9, 0.5]
    assert stats["selection"]["best"]["epoch"] == 2
    best = _weights(tmp_path / "resume" / "epochs" / "epoch-2")
    out = _weights(tmp_path / "out")
    assert all(torch.equal(best[k], out[k]) for k in out)
    assert [p.name for p in (tmp_path / "resume" / "epochs").iterdir() if p.is_dir()] == ["epoch-2"]
    last = sft_train(base, _rows(8), _r({"epochs": 3, "max_length": 256}), "alpaca", tmp_path / "last",
                     threads=1, progress=False)
    assert last["train_loss"] == stats["train_loss"]  # same training: selection only picks
    with pytest.raises(ValueError, match="no held-out metric"):
        sft_train(base, _rows(8), recipe, "alpaca", tmp_path / "x", threads=1, progress=False)
    with pytest.raises(ValueError, match="rows were dropped"):
        sft_train(base, _rows(8), _r({"max_length": 16}), "alpaca", tmp_path / "y", threads=1, progress=False)
